"""Pydantic models of what AWS delivers, and their conversion into canonical rules.

All knowledge of CloudTrail's quirks lives here: the EventBridge envelope around a record, camelCase
Authorize events whose empty collections are written ``{}``, PascalCase ModifySecurityGroupRules
requests whose ``SecurityGroupRule`` is an object or a list, ports and protocols written as strings
or numbers. Unknown fields are ignored so that a new CloudTrail field never breaks the guard.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from chalicelib.messages import error_words, kind
from chalicelib.rules import (
    ALL_PROTOCOLS,
    Direction,
    Rule,
    Source,
    canonical_cidr,
    normalise_protocol,
    source_from,
)

AUTHORIZE_EVENTS = frozenset({"AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"})
MODIFY_EVENT = "ModifySecurityGroupRules"
RULE_CHANGE_EVENTS = AUTHORIZE_EVENTS | {MODIFY_EVENT}
EC2_EVENT_SOURCE = "ec2.amazonaws.com"
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


T = TypeVar("T")


class Items(_Model, Generic[T]):
    """CloudTrail writes an empty collection as ``{}`` (or ``null``), a full one as ``{"items": [...]}``."""

    items: list[T] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


_CIDRS: dict[str, str] = {}
"""CIDRs already seen, canonical: a trail repeats the same few thousand, and a pydantic validator is
called for every one of them."""


def _cidr(value: Any) -> Any:
    known = _CIDRS.get(value) if isinstance(value, str) else None
    if known is not None:
        return known
    if not isinstance(value, str):
        return value  # pydantic's own str check names the field
    try:
        canonical = canonical_cidr(value)
    except ValueError as error:
        raise ValueError(f"{value!r} is not a CIDR block") from error
    if len(_CIDRS) < 65536:
        _CIDRS[value] = canonical
    return canonical


Cidr = Annotated[str, BeforeValidator(_cidr)]
Protocol = Annotated[str, BeforeValidator(lambda v: normalise_protocol(v) if isinstance(v, str | int) else v)]
Port = Annotated[int, Field(ge=-1, le=65535)]


# --- identities ------------------------------------------------------------------------------------


class SessionIssuer(_Model):
    type: str | None = None
    arn: str | None = None
    user_name: str | None = Field(default=None, alias="userName")


class SessionContext(_Model):
    session_issuer: SessionIssuer | None = Field(default=None, alias="sessionIssuer")
    source_identity: str | None = Field(default=None, alias="sourceIdentity")
    """Set when the first role of a chain was assumed; every later role in the chain carries it."""


class OnBehalfOf(_Model):
    user_id: str | None = Field(default=None, alias="userId")
    identity_store_arn: str | None = Field(default=None, alias="identityStoreArn")


class UserIdentity(_Model):
    """Who made the call. ``type`` is kept as text: CloudTrail adds kinds (IdentityCenterUser, Unknown)."""

    type: str = "Unknown"
    principal_id: str | None = Field(default=None, alias="principalId")
    arn: str | None = None
    account_id: str | None = Field(default=None, alias="accountId")
    user_name: str | None = Field(default=None, alias="userName")
    invoked_by: str | None = Field(default=None, alias="invokedBy")
    session_context: SessionContext | None = Field(default=None, alias="sessionContext")
    on_behalf_of: OnBehalfOf | None = Field(default=None, alias="onBehalfOf")

    @property
    def role_arn(self) -> str | None:
        issuer = self.session_context.session_issuer if self.session_context else None
        if self.type == "AssumedRole" and issuer is not None:
            return issuer.arn
        return None

    @property
    def session_name(self) -> str | None:
        """For assumed roles, the last part of the session ARN (often the person's e-mail under SSO)."""
        if self.type == "AssumedRole" and self.arn and "/" in self.arn:
            return self.arn.rsplit("/", 1)[1]
        return None

    @property
    def principal(self) -> str | None:
        """The role for assumed roles (what a human fixes in IAM), else whoever made the call."""
        if self.role_arn:
            return self.role_arn
        if self.arn:
            return self.arn
        if self.type == "IdentityCenterUser" and self.on_behalf_of and self.on_behalf_of.user_id:
            return self.on_behalf_of.user_id
        return self.invoked_by or self.user_name or self.principal_id


# --- Authorize* ------------------------------------------------------------------------------------


class IpRange(_Model):
    cidr_ip: Cidr = Field(alias="cidrIp")
    description: str | None = None


class Ipv6Range(_Model):
    cidr_ipv6: Cidr = Field(alias="cidrIpv6")
    description: str | None = None


class PrefixListId(_Model):
    prefix_list_id: str = Field(alias="prefixListId")
    description: str | None = None


class GroupPair(_Model):
    group_id: str | None = Field(default=None, alias="groupId")
    group_name: str | None = Field(default=None, alias="groupName")
    user_id: str | None = Field(default=None, alias="userId")
    description: str | None = None


class IpPermission(_Model):
    ip_protocol: Protocol = Field(alias="ipProtocol")
    from_port: Port | None = Field(default=None, alias="fromPort")
    to_port: Port | None = Field(default=None, alias="toPort")
    groups: Items[GroupPair] = Field(default_factory=Items)
    ip_ranges: Items[IpRange] = Field(default_factory=Items, alias="ipRanges")
    ipv6_ranges: Items[Ipv6Range] = Field(default_factory=Items, alias="ipv6Ranges")
    prefix_list_ids: Items[PrefixListId] = Field(default_factory=Items, alias="prefixListIds")


class ReferencedGroupInfo(_Model):
    group_id: str = Field(alias="groupId")
    user_id: str | None = Field(default=None, alias="userId")


class RuleSetItem(_Model):
    """One rule AWS created, as the response's ``securityGroupRuleSet`` reports it."""

    group_id: str = Field(alias="groupId")
    rule_id: str = Field(alias="securityGroupRuleId")
    rule_arn: str | None = Field(default=None, alias="securityGroupRuleArn")
    is_egress: bool = Field(alias="isEgress")
    ip_protocol: Protocol = Field(alias="ipProtocol")
    from_port: Port | None = Field(default=None, alias="fromPort")
    to_port: Port | None = Field(default=None, alias="toPort")
    cidr_ipv4: Cidr | None = Field(default=None, alias="cidrIpv4")
    cidr_ipv6: Cidr | None = Field(default=None, alias="cidrIpv6")
    prefix_list_id: str | None = Field(default=None, alias="prefixListId")
    referenced_group_info: ReferencedGroupInfo | None = Field(default=None, alias="referencedGroupInfo")
    description: str | None = None

    @property
    def source(self) -> Source:
        group = self.referenced_group_info.group_id if self.referenced_group_info else None
        source = source_from(self.cidr_ipv4, self.cidr_ipv6, self.prefix_list_id, group)
        if source is None:
            raise ValueError("a rule needs one of cidrIpv4, cidrIpv6, prefixListId or referencedGroupInfo")
        return source


class AuthorizeRequest(_Model):
    group_id: str | None = Field(default=None, alias="groupId")
    group_name: str | None = Field(default=None, alias="groupName")
    ip_permissions: Items[IpPermission] = Field(default_factory=Items, alias="ipPermissions")


class AuthorizeResponse(_Model):
    security_group_rule_set: Items[RuleSetItem] = Field(default_factory=Items, alias="securityGroupRuleSet")


# --- ModifySecurityGroupRules ----------------------------------------------------------------------


class RuleRequest(_Model):
    """The new content of a modified rule, in the API's own PascalCase."""

    ip_protocol: Protocol = Field(alias="IpProtocol")
    from_port: Port | None = Field(default=None, alias="FromPort")
    to_port: Port | None = Field(default=None, alias="ToPort")
    cidr_ipv4: Cidr | None = Field(default=None, alias="CidrIpv4")
    cidr_ipv6: Cidr | None = Field(default=None, alias="CidrIpv6")
    prefix_list_id: str | None = Field(default=None, alias="PrefixListId")
    referenced_group_id: str | None = Field(default=None, alias="ReferencedGroupId")
    description: str | None = Field(default=None, alias="Description")

    @property
    def source(self) -> Source:
        source = source_from(self.cidr_ipv4, self.cidr_ipv6, self.prefix_list_id, self.referenced_group_id)
        if source is None:
            raise ValueError("a rule needs one of CidrIpv4, CidrIpv6, PrefixListId or ReferencedGroupId")
        return source


class RuleUpdate(_Model):
    rule_id: str = Field(alias="SecurityGroupRuleId")
    rule: RuleRequest = Field(alias="SecurityGroupRule")


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, Mapping) else value


class ModifyRequest(_Model):
    group_id: str = Field(alias="GroupId")
    updates: Annotated[list[RuleUpdate], BeforeValidator(_one_or_many)] = Field(
        alias="SecurityGroupRule", min_length=1
    )


class ModifyParameters(_Model):
    request: ModifyRequest = Field(alias="ModifySecurityGroupRulesRequest")


# --- the CloudTrail record and its envelope ----------------------------------------------------------


class _RecordBase(_Model):
    event_id: str = Field(alias="eventID")
    event_name: str = Field(alias="eventName")
    event_time: datetime = Field(alias="eventTime")
    event_source: str = Field(alias="eventSource")
    aws_region: str = Field(alias="awsRegion")
    recipient_account_id: str | None = Field(default=None, alias="recipientAccountId")
    user_identity: UserIdentity = Field(default_factory=UserIdentity, alias="userIdentity")
    source_ip: str | None = Field(default=None, alias="sourceIPAddress")
    user_agent: str | None = Field(default=None, alias="userAgent")
    error_code: str | None = Field(default=None, alias="errorCode")
    error_message: str | None = Field(default=None, alias="errorMessage")


class AuthorizeRecord(_RecordBase):
    kind: Literal["authorize"] = "authorize"
    request: AuthorizeRequest = Field(alias="requestParameters")
    response: AuthorizeResponse | None = Field(default=None, alias="responseElements")

    @field_validator("response", mode="before")
    @classmethod
    def _response_may_be_anything(cls, value: Any) -> Any:
        return value if isinstance(value, Mapping) else None


class ModifyRecord(_RecordBase):
    kind: Literal["modify"] = "modify"
    request: ModifyParameters = Field(alias="requestParameters")


class OtherRecord(_RecordBase):
    """Any call that cannot need action: other APIs, other services, and calls AWS refused."""

    kind: Literal["other"] = "other"


def _record_kind(value: Any) -> str:
    if not isinstance(value, Mapping):
        return "other"
    if value.get("errorCode") or value.get("eventSource") != EC2_EVENT_SOURCE:
        return "other"
    name = value.get("eventName")
    if not isinstance(name, str):  # validation of the "other" model then names the field
        return "other"
    if name in AUTHORIZE_EVENTS:
        return "authorize"
    return "modify" if name == MODIFY_EVENT else "other"


CloudTrailRecord = Annotated[
    Annotated[AuthorizeRecord, Tag("authorize")]
    | Annotated[ModifyRecord, Tag("modify")]
    | Annotated[OtherRecord, Tag("other")],
    Discriminator(_record_kind),
]


class EventBridgeEvent(_Model):
    id: str | None = None
    detail_type: str = Field(validation_alias=AliasChoices("detail-type", "detail_type"))
    source: str
    account: str | None = None
    region: str | None = None
    time: datetime | None = None
    detail: CloudTrailRecord


class BareRecord(_Model):
    """A record as a trail's log file holds it (no envelope)."""

    record: CloudTrailRecord


Record = AuthorizeRecord | ModifyRecord | OtherRecord


# --- from a record to canonical rules -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleChange:
    """What one event did to security groups, in canonical terms.

    ``direction_known`` is False for ModifySecurityGroupRules, whose request does not say whether
    the rule is ingress or egress: its rules are provisionally ingress until AWS is asked.
    ``ids_known`` is False for events too old to carry rule ids.
    """

    record: AuthorizeRecord | ModifyRecord
    group_id: str
    rules: tuple[Rule, ...]
    direction_known: bool
    ids_known: bool

    @property
    def account(self) -> str | None:
        return self.record.recipient_account_id or self.record.user_identity.account_id

    @property
    def region(self) -> str:
        return self.record.aws_region


class InvalidEvent(ValueError):
    """An event that cannot be understood; ``errors`` name the field at fault, e.g.
    ``detail.requestParameters.ipPermissions.items[0].fromPort: Input should be ...``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _location(loc: tuple[int | str, ...], prefix: str) -> str:
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part not in ("authorize", "modify", "other", "record"):  # union tags, not fields
            text += f".{part}" if text else str(part)
    return text or "(event)"


def _errors(error: ValidationError, prefix: str = "") -> list[str]:
    return [
        f"{_location(tuple(e['loc']), prefix)}: {error_words(e)}" for e in error.errors(include_url=False)
    ]


def parse_record(raw: Any) -> Record:
    """Validate an EventBridge event or a bare CloudTrail record; raise :class:`InvalidEvent`."""
    if not isinstance(raw, Mapping):
        raise InvalidEvent([f"(event): expected a JSON object, found {kind(raw)}"])
    if "detail" in raw:
        try:
            envelope = EventBridgeEvent.model_validate(raw)
        except ValidationError as error:
            raise InvalidEvent(_errors(error)) from None
        return envelope.detail
    try:
        return BareRecord.model_validate({"record": raw}).record
    except ValidationError as error:
        raise InvalidEvent(_errors(error)) from None


def _ports(protocol: str, from_port: int | None, to_port: int | None) -> tuple[int | None, int | None]:
    """All-traffic rules carry no ports (events write -1 or nothing); keep ports for everything else."""
    if protocol == ALL_PROTOCOLS:
        return (None, None)
    return (from_port, to_port)


def _check_port_order(rules: tuple[Rule, ...], where: str) -> None:
    for index, rule in enumerate(rules):
        low, high = rule.from_port, rule.to_port
        if rule.protocol in ("tcp", "udp") and low is not None and high is not None and low > high:
            raise InvalidEvent([f"{where}[{index}]: fromPort {low} is greater than toPort {high}"])


def _rules_from_rule_set(items: list[RuleSetItem]) -> Iterator[Rule]:
    for item in items:
        from_port, to_port = _ports(item.ip_protocol, item.from_port, item.to_port)
        yield Rule(
            group_id=item.group_id,
            direction="egress" if item.is_egress else "ingress",
            protocol=item.ip_protocol,
            from_port=from_port,
            to_port=to_port,
            source=item.source,
            rule_id=item.rule_id,
            rule_arn=item.rule_arn,
            description=item.description,
        )


def _rules_from_permissions(group_id: str, direction: Direction, perms: list[IpPermission]) -> Iterator[Rule]:
    """One rule per source of each permission, as AWS itself splits them."""
    for perm in perms:
        from_port, to_port = _ports(perm.ip_protocol, perm.from_port, perm.to_port)

        sources = [
            *((Source("cidr_ipv4", r.cidr_ip), r.description) for r in perm.ip_ranges.items),
            *((Source("cidr_ipv6", r.cidr_ipv6), r.description) for r in perm.ipv6_ranges.items),
            *((Source("prefix_list", p.prefix_list_id), p.description) for p in perm.prefix_list_ids.items),
            *(
                (Source("security_group", g.group_id or g.group_name or "?"), g.description)
                for g in perm.groups.items
            ),
        ]
        for source, description in sources:
            yield Rule(
                group_id, direction, perm.ip_protocol, from_port, to_port, source, None, None, description
            )


def rule_change(record: AuthorizeRecord | ModifyRecord) -> RuleChange:
    """Every rule an event carries, canonical. Raise :class:`InvalidEvent` when one is malformed."""
    prefix = "requestParameters"
    if isinstance(record, ModifyRecord):
        request = record.request.request
        try:
            rules = tuple(
                Rule(
                    request.group_id,
                    "ingress",
                    u.rule.ip_protocol,
                    *_ports(u.rule.ip_protocol, u.rule.from_port, u.rule.to_port),
                    source=u.rule.source,
                    rule_id=u.rule_id,
                    description=u.rule.description,
                )
                for u in request.updates
            )
        except ValueError as error:
            raise InvalidEvent(
                [f"{prefix}.ModifySecurityGroupRulesRequest.SecurityGroupRule: {error}"]
            ) from None
        _check_port_order(rules, f"{prefix}.ModifySecurityGroupRulesRequest.SecurityGroupRule")
        return RuleChange(record, request.group_id, rules, direction_known=False, ids_known=True)

    direction: Direction = "egress" if record.event_name.endswith("Egress") else "ingress"
    rule_set = record.response.security_group_rule_set.items if record.response else []
    if rule_set:
        try:
            rules = tuple(_rules_from_rule_set(rule_set))
        except ValueError as error:
            raise InvalidEvent([f"responseElements.securityGroupRuleSet: {error}"]) from None
        _check_port_order(rules, "responseElements.securityGroupRuleSet.items")
        return RuleChange(record, rules[0].group_id, rules, direction_known=True, ids_known=True)

    group_id = record.request.group_id
    if not group_id:
        raise InvalidEvent([f"{prefix}.groupId: required when the response carries no securityGroupRuleSet"])
    rules = tuple(_rules_from_permissions(group_id, direction, record.request.ip_permissions.items))
    _check_port_order(rules, f"{prefix}.ipPermissions.items")
    return RuleChange(record, group_id, rules, direction_known=True, ids_known=False)
