"""The organization sweep's settings: which accounts and regions, and the queue of units.

``SWEEP_SCOPE=organization`` turns the scheduled sweep into the producer of units; ``account`` (the
default) keeps it sweeping the function's own account and region. The queue's name is read when Chalice
loads the app (as the schedule is), since the consumer's event source is declared with it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from chalicelib.org.members import ACCOUNT_ID
from chalicelib.settings import ConfigError

Scope = Literal["account", "organization"]
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
_QUEUE = re.compile(r"[A-Za-z0-9_-]{1,80}")
DEFAULT_CONCURRENCY = 10


@dataclass(frozen=True, slots=True)
class OrgSweepSettings:
    scope: Scope
    accounts: tuple[str, ...] | None
    """SWEEP_ACCOUNTS: the accounts to sweep; None: every ACTIVE account of the organization."""
    regions: tuple[str, ...] | None
    """SWEEP_REGIONS: the regions to sweep; None: the function's own region (``enabled``: all enabled)."""
    all_enabled_regions: bool
    queue: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OrgSweepSettings:
        env = os.environ if environ is None else environ
        scope = env.get("SWEEP_SCOPE", "account").strip() or "account"
        if scope not in ("account", "organization"):
            raise ConfigError(f"SWEEP_SCOPE={scope!r}: expected account or organization")
        accounts = _listed(env, "SWEEP_ACCOUNTS", ACCOUNT_ID, "a 12-digit account id")
        raw_regions = env.get("SWEEP_REGIONS", "").strip()
        enabled = raw_regions == "enabled"
        regions = None if enabled else _listed(env, "SWEEP_REGIONS", _REGION, "a region name")
        return cls(
            scope="organization" if scope == "organization" else "account",
            accounts=accounts,
            regions=regions,
            all_enabled_regions=enabled,
            queue=units_queue(env),
        )


def _listed(env: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...] | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    items = tuple(dict.fromkeys(i.strip() for i in raw.split(",") if i.strip()))
    bad = [i for i in items if not pattern.fullmatch(i)]
    if bad or not items:
        raise ConfigError(f"{name}={raw!r}: {bad[0] if bad else 'empty'!r} is not {what}")
    return items


def units_queue(environ: Mapping[str, str] | None = None) -> str | None:
    """SWEEP_UNITS_QUEUE: the queue of units (the consumer is deployed only where it is set)."""
    env = os.environ if environ is None else environ
    name = env.get("SWEEP_UNITS_QUEUE", "").strip() or None
    if name is not None and not _QUEUE.fullmatch(name):
        raise ConfigError(f"SWEEP_UNITS_QUEUE={name!r} is not an SQS queue name")
    return name


def concurrency(environ: Mapping[str, str] | None = None) -> int:
    """SWEEP_CONCURRENCY: how many units run at once (the event source's maximum concurrency, 2-1000):
    the cap on the EC2 API rate the organization sweep causes in any one account is far below it."""
    env = os.environ if environ is None else environ
    raw = env.get("SWEEP_CONCURRENCY", "").strip()
    if not raw:
        return DEFAULT_CONCURRENCY
    if not raw.isdigit() or not 2 <= int(raw) <= 1000:
        raise ConfigError(f"SWEEP_CONCURRENCY={raw!r}: expected a whole number from 2 to 1000")
    return int(raw)
