"""Security Hub, read: sgguard's own ACTIVE findings, which a complete sweep archives when it no longer
sees their rules. Only the sweep function calls this (its policy alone grants GetFindings)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.adapters import clients


def active_findings(product_arn: str, account: str, region: str) -> Iterator[dict[str, Any]]:
    """sgguard's ACTIVE findings of one account and region (callers check the fields again: a filter
    that a backend ignores must not archive another product's findings)."""
    filters: Any = {
        "ProductArn": [{"Value": product_arn, "Comparison": "EQUALS"}],
        "GeneratorId": [{"Value": "sgguard/", "Comparison": "PREFIX"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
        "AwsAccountId": [{"Value": account, "Comparison": "EQUALS"}],
        "Region": [{"Value": region, "Comparison": "EQUALS"}],
    }
    pages = (
        clients.securityhub()
        .get_paginator("get_findings")
        .paginate(Filters=filters, PaginationConfig={"PageSize": 100})
    )
    for page in pages:
        yield from page.get("Findings", [])  # type: ignore[misc]
