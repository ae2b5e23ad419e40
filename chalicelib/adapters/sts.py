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


class NoFooting(RuntimeError):
    """The operator's credentials cannot be used: the message says why, in words (no class names)."""


def operator_arn() -> str:
    """Who the operator's own credentials are (``sgguard replay`` without ``--offline``), asked once
    before any event is read, so that missing or expired credentials are one clear error instead of
    "not judged" on every event."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError

    try:
        return clients.sts().get_caller_identity()["Arn"]
    except NoCredentialsError:
        raise NoFooting("no AWS credentials were found") from None
    except NoRegionError:
        raise NoFooting("no AWS region is configured (set one in your profile)") from None
    except EndpointConnectionError as error:
        raise NoFooting(f"AWS could not be reached ({error})") from None
    except ClientError as error:
        info = error.response.get("Error", {})
        raise NoFooting(f"AWS refused the credentials ({info.get('Code')}: {info.get('Message')})") from None
    except BotoCoreError as error:
        raise NoFooting(f"AWS could not be asked ({error})") from None
