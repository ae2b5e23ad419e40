"""Deploying sgguard: what a stage needs around its functions, and `sgguard bootstrap`, which makes it."""
