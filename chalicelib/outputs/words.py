"""Commands and phrases the outputs share (the e-mail's own are in chalicelib.notify)."""

from __future__ import annotations

import shlex

from chalicelib.decision import FindingDoc


def revoke_command(finding: FindingDoc, group_id: str | None, region: str | None) -> str:
    """The AWS CLI command that revokes a rule left in place (dry-run, report-only, or a failure)."""
    verb = (
        "revoke-security-group-ingress" if finding.direction == "ingress" else "revoke-security-group-egress"
    )
    parts = ["aws", "ec2", verb]
    if region:
        parts += ["--region", region]
    parts += ["--group-id", group_id or "GROUP_ID"]
    parts += ["--security-group-rule-ids", finding.rule_id or "RULE_ID"]
    return shlex.join(parts)
