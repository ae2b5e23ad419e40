"""Stage settings, read from the environment at each invocation (Chalice applies a stage's variables
only while a handler runs, and a Lambda's environment never changes under a warm container anyway).

A wrong setting is an error, never a silent default: a guard that quietly runs in the wrong mode or
against the wrong baseline is worse than one that fails loudly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.baseline import DEFAULT_PRESET, preset_names
from chalicelib.decision import MODES, Mode
from chalicelib.org.members import ROLE_NAME, partition

APP_ROOT = Path(__file__).resolve().parent.parent
"""Where app.py and chalicelib/ live: /var/task in Lambda, the project folder elsewhere."""


class ConfigError(RuntimeError):
    """A stage setting is missing or wrong; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    mode: Mode
    baseline: str
    topic_arn: str | None
    idempotency_table: str | None = None
    topic_name: str | None = None
    """NOTIFY_TOPIC: the topic's name, made an ARN with the function's own account and region when it is
    needed (so that no account id is written in the repository); NOTIFY_TOPIC_ARN wins when both are set."""
    member_role: str | None = None
    """MEMBER_ROLE_NAME: the remediation role sgguard assumes in a member account for an event from it
    (organization mode); unset, such an event ends ``failed`` with a message saying so."""
    security_hub: bool = False
    """SECURITY_HUB=on: each violating rule becomes a Security Hub finding (off by default: it needs
    Security Hub enabled in the account, and the policy grant)."""
    chat_topic_arn: str | None = None
    """CHAT_TOPIC_ARN: a second topic, mapped to a chat channel, gets the chat custom-notification JSON."""
    chat_topic_name: str | None = None
    """CHAT_TOPIC: the same as a name in the function's own account and region (as NOTIFY_TOPIC)."""
    eventbridge: bool = True
    """EVENTBRIDGE=off stops the custom event on the default bus (on by default)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        mode = env.get("REMEDIATION_MODE", "enforce").strip() or "enforce"
        if mode not in MODES:
            raise ConfigError(f"REMEDIATION_MODE={mode!r}: expected one of {', '.join(MODES)}")
        topic = env.get("NOTIFY_TOPIC_ARN", "").strip() or None
        if topic is not None and not is_topic_arn(topic):
            raise ConfigError(f"NOTIFY_TOPIC_ARN={topic!r} is not an SNS topic ARN")
        name = env.get("NOTIFY_TOPIC", "").strip() or None
        if name is not None and not _TOPIC_NAME.fullmatch(name):
            raise ConfigError(f"NOTIFY_TOPIC={name!r} is not an SNS topic name (1-256 of A-Z a-z 0-9 - _)")
        member_role = env.get("MEMBER_ROLE_NAME", "").strip() or None
        if member_role is not None and not ROLE_NAME.fullmatch(member_role):
            raise ConfigError(f"MEMBER_ROLE_NAME={member_role!r} is not an IAM role name")
        baseline = env.get("BASELINE", "").strip() or DEFAULT_PRESET
        table = env.get("IDEMPOTENCY_TABLE", "").strip() or None
        if table is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", table):
            raise ConfigError(f"IDEMPOTENCY_TABLE={table!r} is not a DynamoDB table name")
        return cls(
            mode=mode,
            baseline=resolve_baseline(baseline),
            topic_arn=topic,
            idempotency_table=table,
            topic_name=name,
            member_role=member_role,
            **output_settings(env),
        )

    def notify_topic(self, own_account: Callable[[], str | None], region: str | None) -> str | None:
        """The topic's ARN: NOTIFY_TOPIC_ARN as given, or NOTIFY_TOPIC in the function's own account and
        region (asked only here, when a message is about to go out). None when neither is set."""
        return _resolve("NOTIFY_TOPIC", self.topic_arn, self.topic_name, own_account, region)

    def chat_topic(self, own_account: Callable[[], str | None], region: str | None) -> str | None:
        """CHAT_TOPIC_ARN as given, or CHAT_TOPIC in the function's own account and region."""
        return _resolve("CHAT_TOPIC", self.chat_topic_arn, self.chat_topic_name, own_account, region)


def _resolve(
    variable: str,
    arn: str | None,
    name: str | None,
    own_account: Callable[[], str | None],
    region: str | None,
) -> str | None:
    if arn is not None or name is None:
        return arn
    account = own_account()
    if not account or not region:
        raise ConfigError(
            f"{variable}={name!r}: the function's own account or region is unknown "
            "(STS GetCallerIdentity failed, or AWS_REGION is unset), so the topic's ARN cannot be made"
        )
    return topic_arn(name, account, region)


_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")


def topic_arn(name: str, account: str, region: str) -> str:
    return f"arn:{partition(region)}:sns:{region}:{account}:{name}"


def _topic(env: Mapping[str, str], name: str) -> str | None:
    topic = env.get(name, "").strip() or None
    if topic is not None and not (topic.startswith("arn:aws") and topic.count(":") == 5):
        raise ConfigError(f"{name}={topic!r} is not an SNS topic ARN")
    return topic


def _topic_name(env: Mapping[str, str], variable: str) -> str | None:
    name = env.get(variable, "").strip() or None
    if name is not None and not _TOPIC_NAME.fullmatch(name):
        raise ConfigError(f"{variable}={name!r} is not an SNS topic name (1-256 of A-Z a-z 0-9 - _)")
    return name


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value not in ("on", "off"):
        raise ConfigError(f"{name}={value!r}: expected on or off")
    return value == "on"


def output_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Where else a violation goes besides NOTIFY_TOPIC_ARN (README "Where security teams look")."""
    return {
        "security_hub": _switch(env, "SECURITY_HUB", False),
        "chat_topic_arn": _topic(env, "CHAT_TOPIC_ARN"),
        "chat_topic_name": _topic_name(env, "CHAT_TOPIC"),
        "eventbridge": _switch(env, "EVENTBRIDGE", True),
    }


def is_topic_arn(value: str) -> bool:
    """``arn:aws:sns:REGION:ACCOUNT:NAME`` (any partition); shared with the command line's --notify."""
    return value.startswith("arn:aws") and value.count(":") == 5


def resolve_baseline(value: str) -> str:
    """A preset name stays a name; a relative path is read from the deployed package (the app's
    folder), never from wherever the process happens to start."""
    if value in preset_names() or Path(value).is_absolute():
        return value
    return str(APP_ROOT / value)
