"""sgguard: keeps AWS security groups compliant by revoking rules that break a reviewed baseline."""
