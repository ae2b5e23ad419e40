"""Which accounts the organization sweep covers (the regions: adapters/caller.py's enabled_regions).

ListAccounts answers only in the organization's management account or a delegated administrator
account (the usual home of a central security tool); elsewhere, configure SWEEP_ACCOUNTS.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import clients
from chalicelib.adapters.ec2 import read_error


def active_accounts() -> list[str]:
    """Every ACTIVE account of the organization (suspended and closing accounts are not swept)."""
    client = clients.organizations()
    try:
        pages = client.get_paginator("list_accounts").paginate()
        return sorted(
            a["Id"]
            for page in pages
            for a in page.get("Accounts", [])
            if a.get("Status", "ACTIVE") == "ACTIVE"
        )
    except (ClientError, BotoCoreError) as error:
        raise read_error(error) from error
