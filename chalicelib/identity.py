"""Who really did it: the person behind a CloudTrail ``userIdentity``, and what they acted through.

A security team asks for a person, and CloudTrail mostly answers with a role session. The person is
the best human identity the record holds, tried in order of how much it can be trusted:

1. an IAM Identity Center session (role ``AWSReservedSSO_<permission set>_<hash>``): Identity Center
   itself names the session after the user, so the session name is the person and the permission set
   is what they acted through; ``onBehalfOf`` (newer records) names the Identity Store user;
2. a ``sourceIdentity``: set once when the first role of a chain is assumed and carried, unchangeable,
   through every later role, so it survives the chain;
3. an IAM user's name, the account's root user, a federated user's name;
4. any other role session: its name, which whoever assumed the role chose (often an e-mail address
   under SAML federation, but it proves nothing), marked so that nobody mistakes it for proof.

``person_source`` says which of these answered, so that a reader (or a filter) can weigh it. Every value
here comes from the record, which an outsider may shape (replayed events, session names): it is made
plain, one line and bounded; each output escapes it again for its own syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from chalicelib.events import UserIdentity

PersonSource = Literal[
    "identity-center",
    "source-identity",
    "iam-user",
    "root",
    "federated-user",
    "role-session-name",
]
PERSON_LIMIT = 256
"""Characters kept of a person or via (AWS's own names are at most 64-128)."""

_SSO_ROLE = re.compile(r"AWSReservedSSO_(?P<permission_set>.+)_[0-9A-Fa-f]+")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")


@dataclass(frozen=True, slots=True)
class Who:
    person: str | None
    person_source: PersonSource | None
    via: str | None
    """The role, permission set or service the person acted through."""


def plain(value: str | None, limit: int = PERSON_LIMIT) -> str | None:
    """One printable line, at most ``limit`` characters: control, bidi and zero-width characters out."""
    if value is None:
        return None
    text = _UNPRINTABLE.sub(" ", value).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text or None


def _role_parts(identity: UserIdentity) -> tuple[str | None, str | None]:
    """(role name, session name) of an assumed-role session ARN."""
    arn = identity.arn or ""
    _, _, resource = arn.partition(":assumed-role/")
    if not resource:
        return None, None
    role, _, session = resource.partition("/")
    return role or None, session or None


def _identity_store_user(identity: UserIdentity) -> str | None:
    behalf = identity.on_behalf_of
    return behalf.user_id if behalf and behalf.user_id else None


def who(identity: UserIdentity) -> Who:
    found = _who(identity)
    return Who(plain(found.person), found.person_source, plain(found.via))


def _who(identity: UserIdentity) -> Who:
    kind = identity.type
    context = identity.session_context
    issuer = context.session_issuer if context else None
    role_arn = issuer.arn if issuer and issuer.arn else None
    if kind == "AssumedRole":
        role, session = _role_parts(identity)
        sso = _SSO_ROLE.fullmatch(role or (issuer.user_name if issuer else None) or "")
        store_user = _identity_store_user(identity)
        if sso:
            permission_set = f"permission set {sso['permission_set']}"
            return Who(session or store_user, "identity-center", permission_set)
        if store_user:
            return Who(f"Identity Center user {store_user}", "identity-center", role_arn)
        source_identity = context.source_identity if context else None
        if source_identity:
            return Who(source_identity, "source-identity", role_arn)
        role_used = role_arn or (f"role {role}" if role else None)
        return Who(session, "role-session-name" if session else None, role_used)
    if kind == "IdentityCenterUser":
        store_user = _identity_store_user(identity)
        name = identity.user_name or (f"Identity Center user {store_user}" if store_user else None)
        return Who(name, "identity-center" if name else None, "IAM Identity Center")
    if kind == "IAMUser":
        from_arn = (identity.arn or "").rpartition(":user/")[2].rpartition("/")[2]
        user = identity.user_name or from_arn or None
        return Who(user, "iam-user" if user else None, None)
    if kind == "Root":
        account = identity.account_id
        return Who(f"root user of {account}" if account else "root user", "root", None)
    if kind == "FederatedUser":
        name = (identity.arn or "").rpartition(":federated-user/")[2]
        return Who(name or None, "federated-user" if name else None, role_arn)
    if kind == "AWSService":
        return Who(None, None, identity.invoked_by)
    if kind == "AWSAccount":
        account = identity.account_id or identity.principal_id
        return Who(None, None, f"account {account}" if account else None)
    return Who(None, None, identity.invoked_by)
