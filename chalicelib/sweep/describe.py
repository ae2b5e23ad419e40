"""AWS's describe entries as sgguard's canonical types: pure, so a live sweep and a saved dump agree.

The input is exactly what ``aws ec2 describe-security-group-rules``, ``describe-security-groups`` and
``describe-network-interfaces`` print (the API's PascalCase dicts, one entry of ``SecurityGroupRules``,
``SecurityGroups`` or ``NetworkInterfaces``); boto3 returns the same dicts, so ``sgguard audit --from``
over a dump and the scheduled sweep judge the very same values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.rules import Direction, Rule, Source, canonical_cidr, normalise_protocol, source_from


class DescribeError(ValueError):
    """A describe entry that is not what AWS prints; the message names the field."""


def rule_from_describe(item: Mapping[str, Any]) -> Rule:
    """A DescribeSecurityGroupRules entry as a canonical rule (one of the three rule sources)."""
    protocol = normalise_protocol(item["IpProtocol"])
    cidr4, cidr6 = item.get("CidrIpv4"), item.get("CidrIpv6")
    referenced = item.get("ReferencedGroupInfo") or {}
    source = source_from(
        canonical_cidr(cidr4) if cidr4 else None,
        canonical_cidr(cidr6) if cidr6 else None,
        item.get("PrefixListId"),
        referenced.get("GroupId") if isinstance(referenced, Mapping) else None,
    ) or Source("security_group", "?")
    all_traffic = protocol == "-1"
    direction: Direction = "egress" if item.get("IsEgress") else "ingress"
    return Rule(
        group_id=item["GroupId"],
        direction=direction,
        protocol=protocol,
        from_port=None if all_traffic else item.get("FromPort"),
        to_port=None if all_traffic else item.get("ToPort"),
        source=source,
        rule_id=item.get("SecurityGroupRuleId"),
        rule_arn=item.get("SecurityGroupRuleArn"),
        description=item.get("Description"),
    )


_SOURCES: dict[tuple[str, str], Source] = {}
"""Sources seen, by (field, value as written): a region repeats the same few thousand sources over
its rules, so each is parsed and built once (bounded: cleared past ``_SOURCES_LIMIT``)."""
_SOURCES_LIMIT = 100_000


def _source(field: str, value: str) -> Source:
    key = (field, value)
    found = _SOURCES.get(key)
    if found is None:
        if len(_SOURCES) >= _SOURCES_LIMIT:
            _SOURCES.clear()
        if field == "CidrIpv4":
            found = Source("cidr_ipv4", canonical_cidr(value))
        elif field == "CidrIpv6":
            found = Source("cidr_ipv6", canonical_cidr(value))
        elif field == "PrefixListId":
            found = Source("prefix_list", value)
        else:
            found = Source("security_group", value)
        _SOURCES[key] = found
    return found


def checked_rule(item: object, where: str = "rule") -> Rule:
    """:func:`rule_from_describe` for input nobody vouched for (a dump file): a clear error naming the
    field instead of a KeyError, and nothing judged from half a rule (a direction that is not a
    boolean, a rule without a source). One pass of type checks, then the rule; a million dump
    entries go through here, so the explanation is worked out only for an entry that fails."""
    if not isinstance(item, Mapping):
        raise _explain(item, where)
    get = item.get
    group_id, protocol, egress = get("GroupId"), get("IpProtocol"), get("IsEgress")
    from_port, to_port = get("FromPort"), get("ToPort")
    cidr4, cidr6, list_id = get("CidrIpv4"), get("CidrIpv6"), get("PrefixListId")
    rule_id, arn, description = get("SecurityGroupRuleId"), get("SecurityGroupRuleArn"), get("Description")
    if (
        type(group_id) is not str
        or (type(protocol) is not str and type(protocol) is not int)
        or type(egress) is not bool
        or (from_port is not None and type(from_port) is not int)
        or (to_port is not None and type(to_port) is not int)
        or (cidr4 is not None and type(cidr4) is not str)
        or (cidr6 is not None and type(cidr6) is not str)
        or (list_id is not None and type(list_id) is not str)
        or (rule_id is not None and type(rule_id) is not str)
        or (arn is not None and type(arn) is not str)
        or (description is not None and type(description) is not str)
    ):
        raise _explain(item, where)
    try:
        protocol = normalise_protocol(protocol)
        if cidr4:
            source = _source("CidrIpv4", cidr4)
        elif cidr6:
            source = _source("CidrIpv6", cidr6)
        elif list_id:
            source = _source("PrefixListId", list_id)
        else:
            referenced = get("ReferencedGroupInfo")
            peer = referenced.get("GroupId") if isinstance(referenced, Mapping) else None
            if type(peer) is not str or not peer:
                raise ValueError("no source")
            source = _source("GroupId", peer)
    except ValueError:
        raise _explain(item, where) from None
    all_traffic = protocol == "-1"
    return Rule(
        group_id,
        "egress" if egress else "ingress",
        protocol,
        None if all_traffic else from_port,
        None if all_traffic else to_port,
        source,
        rule_id,
        arn,
        description,
    )


def _explain(item: object, where: str) -> DescribeError:
    """Why :func:`checked_rule` refused an entry, naming the field (the slow path: only for bad entries)."""
    if not isinstance(item, Mapping):
        return DescribeError(f"{where}: expected an object of SecurityGroupRules, got {type(item).__name__}")
    for key in ("GroupId", "IpProtocol"):
        if not isinstance(item.get(key), str | int) or isinstance(item.get(key), bool):
            return DescribeError(f"{where}.{key}: missing or not a string")
    if not isinstance(item["GroupId"], str):
        return DescribeError(f"{where}.GroupId: not a string")
    for key in ("FromPort", "ToPort"):
        value = item.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            return DescribeError(f"{where}.{key}: {value!r} is not a port number")
    for key in ("CidrIpv4", "CidrIpv6", "PrefixListId", "SecurityGroupRuleId", "Description"):
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            return DescribeError(f"{where}.{key}: {value!r} is not a string")
    try:
        normalise_protocol(item["IpProtocol"])
    except ValueError as error:
        return DescribeError(f"{where}.IpProtocol: {error}")
    for key in ("CidrIpv4", "CidrIpv6"):
        if item.get(key):
            try:
                canonical_cidr(item[key])
            except ValueError as error:
                return DescribeError(f"{where}.{key}: {error}")
    if type(item.get("IsEgress")) is not bool:
        return DescribeError(f"{where}.IsEgress: {item.get('IsEgress')!r} is not true or false")
    return DescribeError(
        f"{where}: no source: expected one of CidrIpv4, CidrIpv6, PrefixListId, ReferencedGroupInfo.GroupId"
    )


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """What a sweep knows of a group beyond its rules (one DescribeSecurityGroups entry)."""

    group_id: str
    name: str
    vpc_id: str | None
    owner: str | None = None
    description: str | None = None

    @property
    def is_default(self) -> bool:
        """A VPC's default group: AWS creates it with rules, and it cannot be deleted."""
        return self.name == "default"


def group_from_describe(item: Mapping[str, Any]) -> GroupFacts:
    return GroupFacts(
        group_id=item["GroupId"],
        name=item.get("GroupName", ""),
        vpc_id=item.get("VpcId"),
        owner=item.get("OwnerId"),
        description=item.get("Description"),
    )


def groups_by_id(items: Iterable[Mapping[str, Any]]) -> dict[str, GroupFacts]:
    return {g.group_id: g for g in map(group_from_describe, items)}


def rules_of(items: Iterable[Mapping[str, Any]]) -> Iterator[Rule]:
    return map(rule_from_describe, items)


# --- network interfaces: what a violating rule actually exposes -----------------------------------

_TYPE_KINDS = {
    "lambda": "lambda",
    "load_balancer": "load balancer",
    "network_load_balancer": "load balancer",
    "gateway_load_balancer": "load balancer",
    "vpc_endpoint": "endpoint",
    "gateway_load_balancer_endpoint": "endpoint",
    "nat_gateway": "nat gateway",
    "natGateway": "nat gateway",
    "api_gateway_managed": "api gateway",
    "global_accelerator_managed": "global accelerator",
    "transit_gateway": "transit gateway",
    "efa": "instance",
    "trunk": "instance",
    "branch": "container",
}
_REQUESTER_KINDS = {
    "amazon-elb": "load balancer",
    "amazon-rds": "database",
    "amazon-redshift": "database",
    "amazon-elasticache": "cache",
    "amazon-elasticsearch": "search domain",
    "amazon-elasticfilesystem": "file system",
    "amazon-aws": "aws service",
}


@dataclass(frozen=True, slots=True)
class Interface:
    """One network interface a group is attached to, as a sweep reports it."""

    interface_id: str
    kind: str
    """instance, load balancer, lambda, endpoint, database, container, nat gateway, unattached, ..."""
    interface_type: str
    requester_id: str | None
    attached_to: str | None
    public_ip: str | None
    private_ip: str | None
    group_ids: tuple[str, ...]
    description: str | None = None


def interface_kind(item: Mapping[str, Any]) -> str:
    """What an interface belongs to, from InterfaceType, RequesterId and the attachment: AWS-managed
    interfaces (load balancers, RDS, Lambda) carry a RequesterId naming the service."""
    interface_type = str(item.get("InterfaceType") or "interface")
    if interface_type in _TYPE_KINDS:
        return _TYPE_KINDS[interface_type]
    requester = str(item.get("RequesterId") or "")
    if requester in _REQUESTER_KINDS:
        return _REQUESTER_KINDS[requester]
    description = str(item.get("Description") or "")
    if description.startswith("ELB "):
        return "load balancer"
    if description.startswith("AWS Lambda VPC ENI"):
        return "lambda"
    attachment = item.get("Attachment") or {}
    if attachment.get("InstanceId"):
        return "instance"
    if requester.startswith("ecs") or "ecs" in description.lower().split():
        return "container"
    if not attachment and item.get("Status", "available") == "available":
        return "unattached"
    return "aws service" if item.get("RequesterManaged") else interface_type


def interface_from_describe(item: Mapping[str, Any]) -> Interface:
    association = item.get("Association") or {}
    attachment = item.get("Attachment") or {}
    return Interface(
        interface_id=item["NetworkInterfaceId"],
        kind=interface_kind(item),
        interface_type=str(item.get("InterfaceType") or "interface"),
        requester_id=item.get("RequesterId"),
        attached_to=attachment.get("InstanceId"),
        public_ip=association.get("PublicIp") or _ipv6_of(item),
        private_ip=item.get("PrivateIpAddress"),
        group_ids=tuple(g["GroupId"] for g in item.get("Groups") or () if g.get("GroupId")),
        description=item.get("Description") or None,
    )


def _ipv6_of(item: Mapping[str, Any]) -> str | None:
    """An IPv6 address in a VPC is a global unicast one: reachable from the internet like a public IPv4."""
    for entry in item.get("Ipv6Addresses") or ():
        if isinstance(entry, Mapping) and entry.get("Ipv6Address"):
            return str(entry["Ipv6Address"])
    return None
