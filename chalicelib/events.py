"""Pydantic models of what AWS delivers, and their conversion into canonical rules.

All knowledge of CloudTrail's quirks lives here: the EventBridge envelope around a record, camelCase
Authorize events whose empty collections are written ``{}``, PascalCase ModifySecurityGroupRules
requests whose ``SecurityGroupRule`` is an object or a list, ports and protocols written as strings
or numbers. Unknown fields are ignored so that a new CloudTrail field never breaks the guard.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from chalicelib.messages import error_words, kind
from chalicelib.rules import (
    ALL_PROTOCOLS,
    Direction,
    Rule,
    Source,
    SourceKind,
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

REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
"""What AWS names a region: eu-west-1, us-gov-west-1, cn-north-1, us-isob-east-1."""


def _region(value: str) -> str:
    if not REGION_NAME.fullmatch(value):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ValueError(f"{shown!r} is not an AWS region name (such as eu-west-1)")
    return value


RegionName = Annotated[str, AfterValidator(_region)]


def is_region(value: Any) -> bool:
    return isinstance(value, str) and REGION_NAME.fullmatch(value) is not None


def _all_traffic_has_no_ports(value: Any, protocol: str, ports: tuple[str, str]) -> Any:
    """EC2 ignores the ports of an all-traffic (-1) permission, whatever the caller wrote there
    (70000, -2, text): so does sgguard, instead of calling the rule unreadable."""
    if not isinstance(value, Mapping):
        return value
    written = value.get(protocol)
    if isinstance(written, str | int) and not isinstance(written, bool):
        try:
            if normalise_protocol(written) == ALL_PROTOCOLS:
                return {k: v for k, v in value.items() if k not in ports}
        except ValueError:
            pass
    return value


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

    @model_validator(mode="before")
    @classmethod
    def _ports_of_all_traffic(cls, value: Any) -> Any:
        return _all_traffic_has_no_ports(value, "ipProtocol", ("fromPort", "toPort"))


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

    @model_validator(mode="before")
    @classmethod
    def _ports_of_all_traffic(cls, value: Any) -> Any:
        return _all_traffic_has_no_ports(value, "ipProtocol", ("fromPort", "toPort"))

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

    @model_validator(mode="before")
    @classmethod
    def _ports_of_all_traffic(cls, value: Any) -> Any:
        return _all_traffic_has_no_ports(value, "IpProtocol", ("FromPort", "ToPort"))

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
    aws_region: RegionName = Field(alias="awsRegion")
    recipient_account_id: str | None = Field(default=None, alias="recipientAccountId")
    user_identity: UserIdentity = Field(default_factory=UserIdentity, alias="userIdentity")
    source_ip: str | None = Field(default=None, alias="sourceIPAddress")
    user_agent: str | None = Field(default=None, alias="userAgent")
    error_code: str | None = Field(default=None, alias="errorCode")
    error_message: str | None = Field(default=None, alias="errorMessage")


class AuthorizeRecord(_RecordBase):
    """The request and the response are kept as delivered and read rule by rule (:func:`rule_change`):
    one rule sgguard cannot read must never hide the others, nor AWS's own record of what it created."""

    kind: Literal["authorize"] = "authorize"
    request: Any = Field(default=None, alias="requestParameters")
    response: Any = Field(default=None, alias="responseElements")


class ModifyRecord(_RecordBase):
    kind: Literal["modify"] = "modify"
    request: Any = Field(default=None, alias="requestParameters")


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


ENVELOPE_PREFIX = "detail."


Record = AuthorizeRecord | ModifyRecord | OtherRecord


# --- from a record to canonical rules -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnreadRule:
    """A rule of the event sgguard could not read whole, with whatever of it could be read.

    ``rule_id`` known: the rule is the group's current rule with that id. Else the readable fields
    (None: unreadable) are matched against the group's current rules; only one match makes it the
    event's rule, since an older rule may look the same.
    """

    where: str
    rule_id: str | None = None
    direction: Direction | None = None
    protocol: str | None = None
    ports: tuple[int | None, int | None] | None = None
    source_kind: SourceKind | None = None

    def matches(self, rule: Rule) -> bool:
        if self.rule_id is not None:
            return rule.rule_id == self.rule_id
        if self.protocol is None or rule.protocol != self.protocol:
            return False  # with no protocol, any rule of the group could be the one
        if self.direction is not None and rule.direction != self.direction:
            return False
        if self.source_kind is not None and rule.source.kind != self.source_kind:
            return False
        if self.ports is not None:
            wanted = Rule(rule.group_id, rule.direction, self.protocol, *self.ports, source=rule.source)
            return wanted.identity == rule.identity
        return True


@dataclass(frozen=True, slots=True)
class RuleChange:
    """What one event did to security groups, in canonical terms.

    ``direction_known`` is False for ModifySecurityGroupRules, whose request does not say whether
    the rule is ingress or egress: its rules are provisionally ingress until AWS is asked.
    ``ids_known`` is False for events too old to carry rule ids. ``unread`` are the rules that could
    not be read whole, ``errors`` every field that could not be read (``path: problem``), including
    request fields that were not needed because AWS's rule set said what was created.
    """

    record: AuthorizeRecord | ModifyRecord
    group_id: str
    rules: tuple[Rule, ...]
    direction_known: bool
    ids_known: bool
    unread: tuple[UnreadRule, ...] = ()
    errors: tuple[str, ...] = field(default=())

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
            text += f".{part}" if text and not text.endswith(".") else str(part)
    return text.rstrip(".") or "(event)"


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


def prefix_of(raw: Any) -> str:
    """How field paths of this event start: ``detail.`` inside an EventBridge envelope."""
    return ENVELOPE_PREFIX if isinstance(raw, Mapping) and "detail" in raw else ""


def _ports(protocol: str, from_port: int | None, to_port: int | None) -> tuple[int | None, int | None]:
    """All-traffic rules carry no ports (events write -1 or nothing); keep ports for everything else."""
    if protocol == ALL_PROTOCOLS:
        return (None, None)
    return (from_port, to_port)


def _port_order_error(rule: Rule, where: str) -> str | None:
    low, high = rule.from_port, rule.to_port
    if rule.protocol in ("tcp", "udp") and low is not None and high is not None and low > high:
        return f"{where}: fromPort {low} is greater than toPort {high}"
    return None


def _validate(model: type[_Model], value: Any, where: str) -> tuple[Any, list[str]]:
    try:
        return model.model_validate(value), []
    except ValidationError as error:
        return None, _errors(error, where + ".")


def _items(value: Any, where: str) -> tuple[list[Any], list[str]]:
    """A CloudTrail collection (``{}``, null or ``{"items": [...]}``) as a list, leniently."""
    if value is None or value == {}:
        return [], []
    if isinstance(value, Mapping) and isinstance(value.get("items"), list):
        return list(value["items"]), []
    if isinstance(value, Mapping) and value.get("items") is None:
        return [], []
    found = kind(value) if not isinstance(value, Mapping) else "an object without a list of items"
    return [], [f"{where}: expected an object, found {found}"]


_RULE_ID = re.compile(r"sgr-\S{1,60}")
_GROUP_ID = re.compile(r"sg-\S{1,61}")
"""What can be a rule's or a group's id: the prefix, bounded; AWS refuses a malformed one itself."""


def _text_id(value: Any, key: str, pattern: re.Pattern[str]) -> str | None:
    found = value.get(key) if isinstance(value, Mapping) else None
    return found if isinstance(found, str) and pattern.fullmatch(found) else None


def _checked_rule(here: str, build: Callable[..., Rule], *args: Any) -> tuple[Rule | None, list[str]]:
    """One rule built from a validated item, or why it cannot be: a value the canonical rule refuses,
    or ports in the wrong order. Shared by AWS's rule set and the Modify request."""
    try:
        rule = build(*args)
        order = _port_order_error(rule, here)
    except ValueError as error:
        return None, [f"{here}: {error}"]
    return (None, [order]) if order else (rule, [])


def _rule_of_item(item: RuleSetItem) -> Rule:
    from_port, to_port = _ports(item.ip_protocol, item.from_port, item.to_port)
    return Rule(
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


def _rule_of_update(group_id: str, update: RuleUpdate) -> Rule:
    u = update.rule
    return Rule(
        group_id,
        "ingress",
        u.ip_protocol,
        *_ports(u.ip_protocol, u.from_port, u.to_port),
        source=u.source,
        rule_id=update.rule_id,
        description=u.description,
    )


def _rule_set_rules(
    items: list[Any], where: str
) -> tuple[list[Rule], list[UnreadRule], list[str], str | None]:
    """AWS's own record of the rules it created, read item by item."""
    rules: list[Rule] = []
    unread: list[UnreadRule] = []
    errors: list[str] = []
    group_id: str | None = None
    for index, raw in enumerate(items):
        here = f"{where}[{index}]"
        group_id = group_id or _text_id(raw, "groupId", _GROUP_ID)
        item, problems = _validate(RuleSetItem, raw, here)
        rule: Rule | None = None
        if item is not None:
            rule, problems = _checked_rule(here, _rule_of_item, item)
        if rule is not None:
            rules.append(rule)
            continue
        errors.extend(problems)
        egress = raw.get("isEgress") if isinstance(raw, Mapping) else None
        direction: Direction | None = (
            None if not isinstance(egress, bool) else "egress" if egress else "ingress"
        )
        unread.append(UnreadRule(here, _text_id(raw, "securityGroupRuleId", _RULE_ID), direction))
    return rules, unread, errors, group_id


_SOURCE_FIELDS: tuple[tuple[str, type[_Model], SourceKind], ...] = (
    ("ipRanges", IpRange, "cidr_ipv4"),
    ("ipv6Ranges", Ipv6Range, "cidr_ipv6"),
    ("prefixListIds", PrefixListId, "prefix_list"),
    ("groups", GroupPair, "security_group"),
)


def _source_of(entry: Any, kind: SourceKind) -> Source:
    if kind == "cidr_ipv4":
        return Source(kind, entry.cidr_ip)
    if kind == "cidr_ipv6":
        return Source(kind, entry.cidr_ipv6)
    if kind == "prefix_list":
        return Source(kind, entry.prefix_list_id)
    return Source(kind, entry.group_id or entry.group_name or "?")


def _permission_rules(
    perm: Any, where: str, group_id: str, direction: Direction
) -> tuple[list[Rule], list[UnreadRule], list[str]]:
    """One request permission: one rule per source, as AWS itself splits them; what cannot be read
    becomes an UnreadRule holding the readable part (protocol, ports, the kind of source)."""
    whole, errors = _validate(IpPermission, perm, where)
    if whole is not None:
        from_port, to_port = _ports(whole.ip_protocol, whole.from_port, whole.to_port)
        whole_rules = [
            Rule(
                group_id,
                direction,
                whole.ip_protocol,
                from_port,
                to_port,
                _source_of(e, source_kind),
                None,
                None,
                e.description,
            )
            for name, _, source_kind in _SOURCE_FIELDS
            for e in getattr(whole, _FIELD_ATTRS[name]).items
        ]
        order = [e for e in (_port_order_error(r, where) for r in whole_rules[:1]) if e]
        if not order:
            return whole_rules, [], []
        return [], [UnreadRule(where, None, direction, whole.ip_protocol)], order
    if not isinstance(perm, Mapping):
        return [], [UnreadRule(where, None, direction)], errors
    protocol = _readable_protocol(perm.get("ipProtocol"))
    ports: tuple[int | None, int | None] | None = None
    if protocol == ALL_PROTOCOLS:
        ports = (None, None)
    elif protocol is not None and not any(f"{where}.fromPort" in e or f"{where}.toPort" in e for e in errors):
        ports = _ports(protocol, _port_or_none(perm.get("fromPort")), _port_or_none(perm.get("toPort")))
    rules: list[Rule] = []
    unread: list[UnreadRule] = []
    for name, model, source_kind in _SOURCE_FIELDS:
        entries, problems = _items(perm.get(name), f"{where}.{name}")
        if problems:
            unread.append(UnreadRule(where, None, direction, protocol, ports, source_kind))
        for index, raw in enumerate(entries):
            entry, _ = _validate(model, raw, f"{where}.{name}.items[{index}]")
            if entry is not None and protocol is not None and ports is not None:
                source = _source_of(entry, source_kind)
                rules.append(
                    Rule(group_id, direction, protocol, *ports, source, None, None, entry.description)
                )
            else:
                here = f"{where}.{name}.items[{index}]"
                unread.append(UnreadRule(here, None, direction, protocol, ports, source_kind))
    if not rules and not unread:
        unread.append(UnreadRule(where, None, direction, protocol, ports))
    return rules, unread, errors


_FIELD_ATTRS = {
    "ipRanges": "ip_ranges",
    "ipv6Ranges": "ipv6_ranges",
    "prefixListIds": "prefix_list_ids",
    "groups": "groups",
}


_PORT = TypeAdapter(Port | None)


def _port_or_none(value: Any) -> int | None:
    """A port already known to be valid (the permission's own errors do not mention it)."""
    port: int | None = _PORT.validate_python(value)
    return port


def _readable_protocol(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        return normalise_protocol(value)
    except ValueError:
        return None


def _request_rules(
    request: Any, prefix: str, group_id: str | None, direction: Direction
) -> tuple[list[Rule], list[UnreadRule], list[str], str | None]:
    where = f"{prefix}requestParameters"
    if not isinstance(request, Mapping):
        return [], [], [f"{where}: expected an object, found {kind(request)}"], None
    errors: list[str] = []
    named = request.get("groupId")
    if named is not None and _text_id(request, "groupId", _GROUP_ID) is None:
        errors.append(f"{where}.groupId: {_shown(named)} is not a security group id")
    group_id = group_id or _text_id(request, "groupId", _GROUP_ID)
    perms, problems = _items(request.get("ipPermissions"), f"{where}.ipPermissions")
    errors.extend(problems)
    rules: list[Rule] = []
    unread: list[UnreadRule] = []
    if problems:
        unread.append(UnreadRule(f"{where}.ipPermissions", None, direction))
    for index, perm in enumerate(perms):
        got, lost, bad = _permission_rules(
            perm, f"{where}.ipPermissions.items[{index}]", group_id or "?", direction
        )
        rules.extend(got)
        unread.extend(lost)
        errors.extend(bad)
    return rules, unread, errors, group_id


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _authorize_change(record: AuthorizeRecord, prefix: str) -> RuleChange:
    direction: Direction = "egress" if record.event_name.endswith("Egress") else "ingress"
    errors: list[str] = []
    rule_set: list[Any] = []
    response = record.response
    if isinstance(response, Mapping):
        rule_set, problems = _items(
            response.get("securityGroupRuleSet"), f"{prefix}responseElements.securityGroupRuleSet"
        )
        errors.extend(problems)
    request_rules, request_unread, request_errors, request_group = _request_rules(
        record.request, prefix, None, direction
    )
    if rule_set:  # AWS's own record of what it created; the request is only noted
        where = f"{prefix}responseElements.securityGroupRuleSet.items"
        rules, unread, problems, group_id = _rule_set_rules(rule_set, where)
        group_id = group_id or request_group
        if group_id is None:
            raise InvalidEvent([*problems, *errors, f"{where}: no rule names its group (groupId)"])
        return RuleChange(
            record,
            group_id,
            tuple(rules),
            direction_known=True,
            ids_known=True,
            unread=tuple(unread),
            errors=(*problems, *errors, *request_errors),
        )
    if request_group is None:
        raise InvalidEvent(
            [
                *errors,
                *request_errors,
                f"{prefix}requestParameters.groupId: required when the response has no securityGroupRuleSet",
            ]
        )
    rules = request_rules
    return RuleChange(
        record,
        request_group,
        tuple(rules),
        direction_known=True,
        ids_known=False,
        unread=tuple(request_unread),
        errors=(*errors, *request_errors),
    )


def _modify_change(record: ModifyRecord, prefix: str) -> RuleChange:
    where = f"{prefix}requestParameters.ModifySecurityGroupRulesRequest"
    if not isinstance(record.request, Mapping):
        raise InvalidEvent([f"{prefix}requestParameters: expected an object, found {kind(record.request)}"])
    request = record.request.get("ModifySecurityGroupRulesRequest")
    if not isinstance(request, Mapping):
        raise InvalidEvent([f"{where}: expected an object, found {kind(request)}"])
    group_id = _text_id(request, "GroupId", _GROUP_ID)
    if group_id is None:
        raise InvalidEvent([f"{where}.GroupId: {_shown(request.get('GroupId'))} is not a security group id"])
    updates = request.get("SecurityGroupRule")
    updates = [updates] if isinstance(updates, Mapping) else updates
    if not isinstance(updates, list) or not updates:
        raise InvalidEvent([f"{where}.SecurityGroupRule: expected one or more rule updates"])
    rules: list[Rule] = []
    unread: list[UnreadRule] = []
    errors: list[str] = []
    for index, raw in enumerate(updates):
        here = f"{where}.SecurityGroupRule" + (f"[{index}]" if len(updates) > 1 else "")
        update, problems = _validate(RuleUpdate, raw, here)
        rule: Rule | None = None
        if update is not None:
            rule, problems = _checked_rule(here, _rule_of_update, group_id, update)
        if rule is not None:
            rules.append(rule)
            continue
        errors.extend(problems)
        unread.append(UnreadRule(here, _text_id(raw, "SecurityGroupRuleId", _RULE_ID)))
    return RuleChange(
        record,
        group_id,
        tuple(rules),
        direction_known=False,
        ids_known=True,
        unread=tuple(unread),
        errors=tuple(errors),
    )


def rule_change(record: AuthorizeRecord | ModifyRecord, prefix: str = "") -> RuleChange:
    """Every rule an event carries, canonical, read rule by rule: AWS's ``securityGroupRuleSet``
    first, the request only for what the rule set lacks. A rule that cannot be read is kept as an
    :class:`UnreadRule` and its fields in ``errors``; :class:`InvalidEvent` only when the event names
    no group at all (then it cannot be a rule change). ``prefix`` starts every field path
    (:func:`prefix_of`)."""
    if isinstance(record, ModifyRecord):
        return _modify_change(record, prefix)
    return _authorize_change(record, prefix)


def claimed_group(raw: Any) -> tuple[str | None, str | None]:
    """For an event that could not be parsed: the group it names and its region, when it claims to be
    a rule change (an EC2 Authorize or Modify call that did not fail). Either is None when unreadable
    (a region only when it is a region name, a group only when it is a group id)."""
    detail = raw.get("detail", raw) if isinstance(raw, Mapping) else None
    if not isinstance(detail, Mapping) or _record_kind(detail) == "other":
        return None, None
    region = detail.get("awsRegion") if is_region(detail.get("awsRegion")) else None
    request = detail.get("requestParameters")
    request = request if isinstance(request, Mapping) else {}
    modify = request.get("ModifySecurityGroupRulesRequest")
    candidates: list[Any] = [request, modify if isinstance(modify, Mapping) else {}]
    response = detail.get("responseElements")
    if isinstance(response, Mapping):
        items, _ = _items(response.get("securityGroupRuleSet"), "")
        candidates.extend(items)
    for candidate in candidates:
        for key in ("groupId", "GroupId"):
            found = _text_id(candidate, key, _GROUP_ID)
            if found:
                return found, region
    return None, region
