"""A region in moto for sweep tests: 200 groups and 2,000 mixed rules, each rule labelled with what the
aws-foundational baseline must make of it.

The label travels in the rule's description (``want:violate``, ``want:ok``, ``want:exempt``), written
when the rule is made, from what the rule is meant to be, never from sgguard's own evaluation; rules
AWS makes by itself carry none: every rule of a VPC's default group violates EC2.2, a new group's
egress-to-anywhere rule complies. (A description never changes a verdict: tests/test_exemptions.py.)

Mixed: four VPCs, each with its default group (AWS's own rules, and a few added); IPv4 and IPv6
sources, an internet-wide block, group references, a customer prefix list holding 0.0.0.0/0 and one
holding a private range; two groups whose SSH from anywhere an exemption lifts, and one whose
exemption expired yesterday; interfaces (one with a public IP) in some violating groups.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from chalicelib.baseline import Baseline, parse_baseline

GROUPS = 200
RULES = 2000
SSH_WORLD = ["EC2.13", "EC2.53", "EC2.18", "EC2.19"]
"""Every aws-foundational control that tcp 22 from 0.0.0.0/0 breaks."""


@dataclass
class Region:
    ec2: Any
    vpcs: list[str]
    default_groups: list[str]
    groups: list[str]
    exempted_groups: list[str]
    expired_group: str
    public_group: str
    world_list: str
    private_list: str
    today: date
    expected: dict[str, str] = field(default_factory=dict)
    """Every rule id -> violate | ok | exempt."""

    def baseline(self) -> Baseline:
        return parse_baseline(self.baseline_text(), "sweep-test.toml")

    def baseline_text(self) -> str:
        """The baseline as a file says it (``sgguard audit --baseline FILE`` reads it)."""
        tomorrow, yesterday = self.today + timedelta(days=1), self.today - timedelta(days=1)
        return f"""
name = "sweep-test"
extends = "aws-foundational"

[[exemptions]]
id = "JIT-SSH"
controls = {SSH_WORLD!r}
scope = {{ groups = {self.exempted_groups!r} }}
reason = "SSH from anywhere until tomorrow, ticket OPS-1"
expires = {tomorrow.isoformat()}

[[exemptions]]
id = "OLD-SSH"
controls = {SSH_WORLD!r}
scope = {{ groups = [{self.expired_group!r}] }}
reason = "SSH from anywhere until yesterday, ticket OPS-0"
expires = {yesterday.isoformat()}
"""

    def violating(self) -> set[str]:
        return {r for r, want in self.expected.items() if want == "violate"}

    def all_rules(self) -> list[dict[str, Any]]:
        pages = self.ec2.get_paginator("describe_security_group_rules").paginate()
        return [r for page in pages for r in page["SecurityGroupRules"]]


def _cidr(cidr: str, want: str) -> dict[str, str]:
    return {"CidrIp": cidr, "Description": f"want:{want}"}


def _perm(protocol: str, port: int | None, want: str, **source: Any) -> dict[str, Any]:
    perm: dict[str, Any] = {"IpProtocol": protocol}
    if port is not None:
        perm.update(FromPort=port, ToPort=port)
    described = {"Description": f"want:{want}"}
    if "v4" in source:
        perm["IpRanges"] = [{"CidrIp": source["v4"], **described}]
    if "v6" in source:
        perm["Ipv6Ranges"] = [{"CidrIpv6": source["v6"], **described}]
    if "pl" in source:
        perm["PrefixListIds"] = [{"PrefixListId": source["pl"], **described}]
    if "sg" in source:
        perm["UserIdGroupPairs"] = [{"GroupId": source["sg"], **described}]
    return perm


def _mixed(
    rng: random.Random, index: int, others: list[str], world_list: str, private_list: str
) -> list[dict[str, Any]]:
    """One rule of a custom group, unique within the group through its port (1000 + index)."""
    port = 1000 + index
    kind = rng.random()
    if kind < 0.30:
        return [_perm("tcp", port, "ok", v4=f"10.{index}.{rng.randrange(256)}.0/24")]
    if kind < 0.40:
        return [_perm("tcp", port, "ok", v6=f"fd00:{index:x}::/64")]
    if kind < 0.50 and others:
        return [_perm("tcp", port, "ok", sg=rng.choice(others))]
    if kind < 0.55:
        return [_perm("tcp", port, "ok", pl=private_list)]
    if kind < 0.62:
        return [_perm("tcp", port, "violate", pl=world_list)]
    if kind < 0.72:
        return [_perm("tcp", port, "violate", v4="0.0.0.0/0")]
    if kind < 0.80:
        return [_perm("udp", port, "violate", v6="::/0")]
    if kind < 0.86:
        return [_perm("tcp", port, "violate", v4="0.0.0.0/1")]  # internet-wide (SGG.1)
    if kind < 0.93:
        return [_perm("tcp", port, "ok", v4="192.0.2.0/24")]  # documentation range: never the internet
    return [_perm("icmp", None, "ok", v4=f"10.{index}.0.0/16") | {"FromPort": 8, "ToPort": 0}]


def _intents(group: str, perms: list[dict[str, Any]]) -> dict[tuple[Any, ...], str]:
    found = {}
    for perm in perms:
        for field_name, key in (
            ("IpRanges", "CidrIp"),
            ("Ipv6Ranges", "CidrIpv6"),
            ("PrefixListIds", "PrefixListId"),
            ("UserIdGroupPairs", "GroupId"),
        ):
            for item in perm.get(field_name, []):
                content = (group, perm["IpProtocol"], perm.get("FromPort", -1), perm.get("ToPort", -1))
                found[(*content, item[key])] = item["Description"].removeprefix("want:")
    return found


def _key(rule: dict[str, Any]) -> tuple[Any, ...]:
    source = (
        rule.get("CidrIpv4")
        or rule.get("CidrIpv6")
        or rule.get("PrefixListId")
        or rule.get("ReferencedGroupInfo", {}).get("GroupId")
    )
    return (rule["GroupId"], rule["IpProtocol"], rule.get("FromPort", -1), rule.get("ToPort", -1), source)


def build_region(ec2: Any, today: date, seed: int = 11) -> Region:
    rng = random.Random(seed)
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    while len(vpcs) < 4:
        vpcs.append(ec2.create_vpc(CidrBlock=f"10.{len(vpcs) + 100}.0.0/16")["Vpc"]["VpcId"])
    defaults = [
        g["GroupId"]
        for g in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])[
            "SecurityGroups"
        ]
    ]
    assert len(defaults) == 4, defaults
    world_list = ec2.create_managed_prefix_list(
        PrefixListName="partners-oops", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "0.0.0.0/0"}]
    )["PrefixList"]["PrefixListId"]
    private_list = ec2.create_managed_prefix_list(
        PrefixListName="offices", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "10.20.0.0/16"}]
    )["PrefixList"]["PrefixListId"]
    custom = [
        ec2.create_security_group(GroupName=f"app-{i:03d}", Description="app tier", VpcId=vpcs[i % 4])[
            "GroupId"
        ]
        for i in range(GROUPS - len(defaults))
    ]
    region = Region(
        ec2=ec2,
        vpcs=vpcs,
        default_groups=defaults,
        groups=defaults + custom,
        exempted_groups=custom[:2],
        expired_group=custom[2],
        public_group=custom[3],
        world_list=world_list,
        private_list=private_list,
        today=today,
    )
    intent: dict[tuple[Any, ...], str] = {}
    # The default groups: AWS's own rules, plus one each that someone added (EC2.2 flags them all).
    for n, group in enumerate(defaults):
        perms = [_perm("tcp", 443, "violate", v4=f"10.{n}.0.0/16")]
        intent.update(_intents(group, perms))
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=perms)
    existing = sum(1 for _ in region.all_rules())
    budget = RULES - existing
    want_per_group, extra = divmod(budget, len(custom))
    for n, group in enumerate(custom):
        count = want_per_group + (1 if n < extra else 0)
        perms: list[dict[str, Any]] = []
        if group in region.exempted_groups:
            perms.append(_perm("tcp", 22, "exempt", v4="0.0.0.0/0"))
        elif group == region.expired_group:
            perms.append(_perm("tcp", 22, "violate", v4="0.0.0.0/0"))
        elif group == region.public_group:
            perms.append(_perm("tcp", 3389, "violate", v6="::/0"))
        others = [g for g in custom if g != group]
        special = group in region.exempted_groups or group == region.expired_group
        while len(perms) < count:
            if special:  # nothing else the exemption's controls would flag: its effect stays exact
                perms.append(_perm("tcp", 1000 + len(perms), "ok", v4=f"10.{len(perms)}.0.0/16"))
            else:
                perms.extend(_mixed(rng, len(perms), others, world_list, private_list))
        intent.update(_intents(group, perms[:count]))
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=perms[:count])
    for rule in region.all_rules():
        # moto keeps no description on prefix-list sources: the label is looked up by the rule's content
        want = intent.get(_key(rule))
        if want is None:  # a rule AWS made by itself
            want = "violate" if rule["GroupId"] in defaults else "ok"
        region.expected[rule["SecurityGroupRuleId"]] = want
    subnet = ec2.create_subnet(VpcId=vpcs[3 % 4], CidrBlock=f"10.{103}.1.0/24")["Subnet"]["SubnetId"]
    public = ec2.create_network_interface(SubnetId=subnet, Groups=[region.public_group])["NetworkInterface"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation, NetworkInterfaceId=public["NetworkInterfaceId"])
    for _ in range(2):
        ec2.create_network_interface(SubnetId=subnet, Groups=[region.public_group])
    return region
