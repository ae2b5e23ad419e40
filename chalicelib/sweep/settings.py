"""The sweep's stage settings: its own mode, the schedule, the heartbeat. Read at each invocation,
except the schedule, which Chalice reads when it loads the app for a stage (it applies the stage's
environment variables first, for ``chalice deploy``, ``package`` and ``local``).

``SWEEP_MODE`` is separate from REMEDIATION_MODE on purpose: switching the guard on must never revoke
hundreds of rules that predate it without a person choosing so. Its default is ``report``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.settings import ConfigError
from chalicelib.sweep.report import SWEEP_MODES, SweepMode

DEFAULT_SCHEDULE = "rate(1 hour)"
_RATE = re.compile(r"rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)")
_CRON = re.compile(r"cron\(\S+( \S+){5}\)")
_SWITCHES = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False, "": False}


@dataclass(frozen=True, slots=True)
class SweepSettings:
    mode: SweepMode
    heartbeat: bool
    """Send the summary after every sweep, even when nothing changed (a sign of life)."""
    reserve_seconds: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SweepSettings:
        env = os.environ if environ is None else environ
        mode = env.get("SWEEP_MODE", "report").strip() or "report"
        if mode not in SWEEP_MODES:
            raise ConfigError(f"SWEEP_MODE={mode!r}: expected one of {', '.join(SWEEP_MODES)}")
        heartbeat = env.get("SWEEP_HEARTBEAT", "off").strip().lower()
        if heartbeat not in _SWITCHES:
            raise ConfigError(f"SWEEP_HEARTBEAT={heartbeat!r}: expected on or off")
        reserve = env.get("SWEEP_RESERVE_SECONDS", "").strip()
        try:
            seconds = float(reserve) if reserve else 15.0
        except ValueError:
            raise ConfigError(f"SWEEP_RESERVE_SECONDS={reserve!r} is not a number of seconds") from None
        if not 1 <= seconds <= 600:
            raise ConfigError(f"SWEEP_RESERVE_SECONDS={reserve!r}: expected 1 to 600 seconds")
        return cls(mode=mode, heartbeat=_SWITCHES[heartbeat], reserve_seconds=seconds)


def schedule(environ: Mapping[str, str] | None = None) -> str | None:
    """The stage's sweep schedule when Chalice loads the app: an EventBridge ``rate(...)`` or
    ``cron(...)`` expression (default hourly), or None for ``SWEEP_SCHEDULE=off`` (no sweep deployed).
    A malformed value is an error at packaging time, not a silently missing sweep."""
    env = os.environ if environ is None else environ
    value = env.get("SWEEP_SCHEDULE", "").strip() or DEFAULT_SCHEDULE
    if value.lower() == "off":
        return None
    if not (_RATE.fullmatch(value) or _CRON.fullmatch(value)):
        raise ConfigError(
            f"SWEEP_SCHEDULE={value!r}: expected off, rate(1 hour), rate(15 minutes), rate(1 day) "
            "or cron(...) with six fields"
        )
    return value
