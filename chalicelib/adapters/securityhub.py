"""Security Hub: BatchImportFindings, at most 100 findings a call; findings the response reports as
failed are imported once more, and what still fails is returned for the log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.adapters import clients

FINDINGS_PER_CALL = 100


def _import(
    findings: Sequence[dict[str, Any]], region: str | None, role_arn: str | None
) -> list[tuple[dict[str, Any], str]]:
    failed: list[tuple[dict[str, Any], str]] = []
    by_id = {f["Id"]: f for f in findings}
    client = clients.securityhub(region, role_arn)
    for start in range(0, len(findings), FINDINGS_PER_CALL):
        batch = list(findings[start : start + FINDINGS_PER_CALL])
        response = client.batch_import_findings(Findings=batch)  # type: ignore[arg-type]
        for item in response.get("FailedFindings", []):
            sent = by_id.get(item.get("Id", ""), {"Id": item.get("Id", "")})
            failed.append((sent, f"{item.get('ErrorCode', 'Error')}: {item.get('ErrorMessage', '')}"))
    return failed


def import_findings(
    findings: Sequence[dict[str, Any]], region: str | None = None, role_arn: str | None = None
) -> list[tuple[dict[str, Any], str]]:
    """Import (create or update, by Id) the findings, in ``region`` as the function or as ``role_arn``;
    the ones still failed after one more try, with AWS's reason. A call that fails as a whole raises
    (ClientError, BotoCoreError): the caller logs it."""
    if not findings:
        return []
    failed = _import(findings, region, role_arn)
    if not failed:
        return []
    return _import([sent for sent, _ in failed], region, role_arn)
