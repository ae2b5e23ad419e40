"""Who sgguard itself is: the ARN its own calls appear under in CloudTrail.

Asked once per container, on the first rule change, and cached (a Lambda's role never changes while
the container lives). GetCallerIdentity is the one source that names the exact session; matching only
a function name from the environment would let anyone who names a session after it go unjudged.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import clients

_own: list[str] = []


def own_arn() -> str | None:
    """The caller ARN (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`` in Lambda), or None when STS
    cannot be asked: then nothing is ignored as sgguard's own, and the next event asks again."""
    if not _own:
        try:
            _own.append(clients.sts().get_caller_identity()["Arn"])
        except (ClientError, BotoCoreError):
            return None
    return _own[0]


def own_account() -> str | None:
    """The account the function runs in (from :func:`own_arn`), or None when STS cannot be asked."""
    arn = own_arn()
    parts = arn.split(":") if arn else []
    return parts[4] if len(parts) > 5 and parts[4] else None


def forget() -> None:
    _own.clear()
