"""The sweep: every rule of one account and region judged against the baseline, on a schedule or on demand.

A sweep catches what no event reported (events are best-effort, rules predate sgguard, a new VPC's
default group comes with rules, exemptions expire). One unit of work is an account and a region:

- :mod:`chalicelib.sweep.describe` (pure): AWS's describe entries (the PascalCase dicts that
  ``aws ec2 describe-security-group-rules`` / ``describe-security-groups`` /
  ``describe-network-interfaces`` print) as canonical rules, group facts and interfaces;
- :mod:`chalicelib.sweep.engine` (pure): rules, group facts, baseline, clock and mode in; findings, the
  revocation plan and the report's parts out;
- :mod:`chalicelib.sweep.report` (pure): :class:`~chalicelib.sweep.report.SweepReport`, the one document
  every renderer (SNS summary, audit text/json/jsonl/html, chat, Security Hub) renders;
- :mod:`chalicelib.sweep.shell`: :func:`~chalicelib.sweep.shell.sweep_region` drives a small port
  (:class:`~chalicelib.sweep.shell.SweepPort`) page by page, with a deadline and a cursor;
- :mod:`chalicelib.sweep.aws`: the live port over boto3.

This package's ``__init__`` imports nothing, so that the adapters may import the pure modules
without an import cycle.
"""
