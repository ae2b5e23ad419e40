"""Organization mode: one central sgguard for every account of an organization (member roles, the
fan-out of the organization's sweep). Imports nothing at package level."""
