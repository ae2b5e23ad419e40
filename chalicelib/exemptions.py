"""Exemptions: reviewed, expiring permission to break named controls within a named scope.

They live in the baseline file and nowhere else. A rule's description or a group's tag is written by
whoever opened the port; if it could exempt the rule, the person the guard exists for could switch it
off. So nothing here reads a rule's description or a tag, and a test proves that "sgguard:exempt" in
either changes nothing.

Matching is pure: the event's account, region, actor, the group's VPC and today's date come in as a
:class:`Where` and a date; what is unknown (the VPC, when AWS could not be asked) makes an exemption
*unchecked*, never silently applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

GroupId = Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")]
VpcId = Annotated[str, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")]
AccountId = Annotated[str, Field(pattern=r"^[0-9]{12}$")]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")]
PrincipalArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[A-Za-z-]+/.+$")]


class Scope(BaseModel):
    """Where an exemption holds. Within a field any value matches; across fields every given field
    must match. ``principals`` are ARNs compared with the actor's ARN and with its principal (the
    role ARN for an assumed role, so one role ARN covers all its sessions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: list[GroupId] | None = Field(default=None, min_length=1)
    vpcs: list[VpcId] | None = Field(default=None, min_length=1)
    accounts: list[AccountId] | None = Field(default=None, min_length=1)
    regions: list[Region] | None = Field(default=None, min_length=1)
    principals: list[PrincipalArn] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _not_everywhere(self) -> Scope:
        if all(getattr(self, f) is None for f in type(self).model_fields):
            raise ValueError(
                "give at least one of groups, vpcs, accounts, regions, principals: "
                "an exemption valid everywhere is a disabled control (use disable)"
            )
        return self


class Exemption(BaseModel):
    """Lifts ``controls`` for rules made within ``scope``, through the ``expires`` day (UTC)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$")
    controls: list[str] = Field(min_length=1)
    scope: Scope
    reason: str = Field(min_length=1)
    expires: date

    def expired(self, today: date) -> bool:
        return today > self.expires


@dataclass(frozen=True, slots=True)
class Where:
    """The facts an exemption's scope is matched against, for one rule."""

    group_id: str
    vpc_id: str | None = None
    account: str | None = None
    region: str | None = None
    actors: tuple[str, ...] = ()
    why_vpc_unknown: str = "AWS was not asked"
    actors_known: bool = True
    """False in a sweep: a rule found in place does not say who made it, so an exemption scoped by
    principal can be neither applied nor refused; it is *unchecked* (reported, never silently applied)."""


@dataclass(frozen=True, slots=True)
class Match:
    """The exemptions bearing on one control for one rule: the one that lifts it (if any), those that
    would have but expired, and those that could not be checked (with why)."""

    active: Exemption | None = None
    expired: tuple[Exemption, ...] = ()
    unchecked: tuple[tuple[Exemption, str], ...] = ()


def _in_scope(scope: Scope, where: Where) -> bool | str:
    """True, False, or why it cannot be told. A definite mismatch wins over an unknown fact."""
    if scope.groups is not None and where.group_id not in scope.groups:
        return False
    if scope.accounts is not None and where.account not in scope.accounts:
        return False
    if scope.regions is not None and where.region not in scope.regions:
        return False
    if scope.principals is not None and where.actors_known and not set(where.actors) & set(scope.principals):
        return False
    if scope.vpcs is not None:
        if where.vpc_id is None:
            return f"the VPC of {where.group_id} is unknown ({where.why_vpc_unknown})"
        if where.vpc_id not in scope.vpcs:
            return False
    if scope.principals is not None and not where.actors_known:
        return "who made the rule is unknown to a sweep, and the exemption is scoped by principal"
    return True


def match(exemptions: Sequence[Exemption], control_id: str, where: Where, today: date | None) -> Match:
    active: Exemption | None = None
    expired: list[Exemption] = []
    unchecked: list[tuple[Exemption, str]] = []
    for exemption in exemptions:
        if control_id not in exemption.controls:
            continue
        verdict = _in_scope(exemption.scope, where)
        if verdict is False:
            continue
        if isinstance(verdict, str):
            unchecked.append((exemption, verdict))
        elif today is None:
            unchecked.append((exemption, "no date was given to check its expiry"))
        elif exemption.expired(today):
            expired.append(exemption)
        elif active is None:
            active = exemption
    if active is not None:
        return Match(active=active)
    return Match(expired=tuple(expired), unchecked=tuple(unchecked))
