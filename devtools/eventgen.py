"""Build the CloudTrail events AWS would deliver for rule changes made in moto.

moto's own Authorize response lists only the last permission's rules, so the rule set of an event is
built from DescribeSecurityGroupRules output instead: what the group really holds. The shapes follow
the samples in tests/fixtures/cloudtrail (EventBridge envelope, camelCase Authorize, PascalCase Modify).
Used by the tests, the demo and the benchmarks; not part of the Lambda package.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

DEFAULT_ACCOUNT = "111122223333"
DEFAULT_REGION = "eu-west-1"

DEVELOPER = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEROLEID1234:dana@example.com",
    "arn": "arn:aws:sts::111122223333:assumed-role/DeveloperAccess/dana@example.com",
    "accountId": "111122223333",
    "accessKeyId": "ASIAEXAMPLEKEY000001",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROAEXAMPLEROLEID1234",
            "arn": "arn:aws:iam::111122223333:role/DeveloperAccess",
            "accountId": "111122223333",
            "userName": "DeveloperAccess",
        },
        "webIdFederationData": {},
        "attributes": {"creationDate": "2026-11-20T08:55:02Z", "mfaAuthenticated": "true"},
    },
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items} if items else {}


def _permission_to_cloudtrail(perm: Mapping[str, Any]) -> dict[str, Any]:
    """IpPermissions as boto3 takes them -> ipPermissions.items[] as CloudTrail logs them."""
    item: dict[str, Any] = {"ipProtocol": str(perm["IpProtocol"])}
    if "FromPort" in perm:
        item["fromPort"] = perm["FromPort"]
    if "ToPort" in perm:
        item["toPort"] = perm["ToPort"]
    item["groups"] = _collection([{"groupId": g["GroupId"]} for g in perm.get("UserIdGroupPairs", [])])
    item["ipRanges"] = _collection(
        [
            {"cidrIp": r["CidrIp"], **({"description": r["Description"]} if "Description" in r else {})}
            for r in perm.get("IpRanges", [])
        ]
    )
    item["ipv6Ranges"] = _collection([{"cidrIpv6": r["CidrIpv6"]} for r in perm.get("Ipv6Ranges", [])])
    item["prefixListIds"] = _collection(
        [{"prefixListId": p["PrefixListId"]} for p in perm.get("PrefixListIds", [])]
    )
    return item


def rule_set_item(rule: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
    """A DescribeSecurityGroupRules entry -> a responseElements.securityGroupRuleSet item."""
    rule_id = rule["SecurityGroupRuleId"]
    item: dict[str, Any] = {
        "groupOwnerId": account,
        "groupId": rule["GroupId"],
        "securityGroupRuleId": rule_id,
        "securityGroupRuleArn": rule.get("SecurityGroupRuleArn")
        or f"arn:aws:ec2:{region}:{account}:security-group-rule/{rule_id}",
        "isEgress": bool(rule.get("IsEgress")),
        "ipProtocol": str(rule["IpProtocol"]),
        "fromPort": rule.get("FromPort", -1),
        "toPort": rule.get("ToPort", -1),
    }
    for key, name in (("CidrIpv4", "cidrIpv4"), ("CidrIpv6", "cidrIpv6"), ("PrefixListId", "prefixListId")):
        if key in rule:
            item[name] = rule[key]
    if "ReferencedGroupInfo" in rule:
        item["referencedGroupInfo"] = {
            "userId": account,
            "groupId": rule["ReferencedGroupInfo"]["GroupId"],
        }
    if rule.get("Description"):
        item["description"] = rule["Description"]
    return item


def _envelope(detail: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": account,
        "time": detail["eventTime"],
        "region": region,
        "resources": [],
        "detail": detail,
    }


def _detail(
    name: str,
    request: dict[str, Any],
    response: dict[str, Any] | None,
    account: str,
    region: str,
    identity: Mapping[str, Any] | None,
) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return {
        "eventVersion": "1.10",
        "userIdentity": dict(identity or DEVELOPER),
        "eventTime": _now(),
        "eventSource": "ec2.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.23",
        "userAgent": "aws-cli/2.22.4 command/ec2." + name,
        "requestParameters": request,
        "responseElements": response,
        "requestID": request_id,
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


def authorize_event(
    group_id: str,
    permissions: Sequence[Mapping[str, Any]],
    created_rules: Iterable[Mapping[str, Any]] | None,
    *,
    egress: bool = False,
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    identity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The event of an Authorize call. ``created_rules`` (describe entries of the rules the call made)
    fill the response's rule set; ``None`` builds an older event without one."""
    name = "AuthorizeSecurityGroupEgress" if egress else "AuthorizeSecurityGroupIngress"
    request = {
        "groupId": group_id,
        "ipPermissions": {"items": [_permission_to_cloudtrail(p) for p in permissions]},
    }
    response: dict[str, Any] = {"requestId": str(uuid.uuid4()), "_return": True}
    if created_rules is not None:
        response["securityGroupRuleSet"] = {
            "items": [rule_set_item(r, account, region) for r in created_rules]
        }
    return _envelope(_detail(name, request, response, account, region, identity), account, region)


def modify_event(
    group_id: str,
    updates: Mapping[str, Mapping[str, Any]],
    *,
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    identity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The event of ModifySecurityGroupRules: ``updates`` maps rule id -> the new rule in PascalCase
    (IpProtocol, FromPort, ToPort, CidrIpv4, ...), as the API takes it."""
    entries = [
        {"SecurityGroupRuleId": rule_id, "SecurityGroupRule": dict(rule), "tag": index + 1}
        for index, (rule_id, rule) in enumerate(updates.items())
    ]
    request = {
        "ModifySecurityGroupRulesRequest": {
            "GroupId": group_id,
            "SecurityGroupRule": entries[0] if len(entries) == 1 else entries,
        }
    }
    response = {"ModifySecurityGroupRulesResponse": {"requestId": str(uuid.uuid4()), "return": True}}
    return _envelope(
        _detail("ModifySecurityGroupRules", request, response, account, region, identity), account, region
    )


def new_rules(
    before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The describe entries present after a call and not before: the rules the call created."""
    known = {r["SecurityGroupRuleId"] for r in before}
    return [dict(r) for r in after if r["SecurityGroupRuleId"] not in known]


def group_rules(ec2: Any, group_id: str) -> list[dict[str, Any]]:
    """Every current rule of a group, as DescribeSecurityGroupRules returns them."""
    pages = ec2.get_paginator("describe_security_group_rules").paginate(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )
    return [rule for page in pages for rule in page["SecurityGroupRules"]]


def authorize_and_record(
    ec2: Any,
    group_id: str,
    permissions: Sequence[Mapping[str, Any]],
    *,
    egress: bool = False,
    with_rule_ids: bool = True,
    identity: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Make the call a developer would make, then build the event CloudTrail would deliver for it.

    Returns the event and the describe entries of the rules the call created.
    """
    before = group_rules(ec2, group_id)
    call = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    call(GroupId=group_id, IpPermissions=list(permissions))
    created = new_rules(before, group_rules(ec2, group_id))
    region = ec2.meta.region_name
    event = authorize_event(
        group_id,
        permissions,
        created if with_rule_ids else None,
        egress=egress,
        region=region,
        identity=identity,
    )
    return event, created


# --- synthetic traffic for benchmarks -----------------------------------------------------------------

_PORTS = (22, 80, 443, 3389, 3306, 5432, 6379, 8080, 8443, 9200, 27017, 53, 123, 0)
_RANGES = (  # the port ranges people open in practice: ephemeral, NodePort, app blocks, everything
    (1024, 65535),
    (32768, 65535),
    (49152, 65535),
    (30000, 32767),
    (8000, 8100),
    (8080, 8090),
    (6000, 6010),
    (3000, 3010),
    (20, 21),
    (0, 65535),
)
_CIDRS = (
    "0.0.0.0/0",
    "::/0",
    "10.0.0.0/8",
    "10.20.0.0/16",
    "172.16.5.0/24",
    "192.168.1.0/24",
    "203.0.113.0/24",
    "198.51.100.7/32",
    "0.0.0.0/1",
    "11.0.0.0/8",
    "2001:db8::/32",
    "2600::/16",
)


def synthetic_records(count: int, seed: int = 7, max_rules: int = 60) -> list[dict[str, Any]]:
    """Bare CloudTrail records as a trail's log file holds them: mixed kinds, 1 to ``max_rules`` rules
    each, sources from the world to private ranges, prefix lists and groups; about one in ten is a
    refused call or an unrelated API, as in a real trail."""
    return list(iter_synthetic_records(count, seed, max_rules))


def iter_synthetic_records(count: int, seed: int = 7, max_rules: int = 60) -> Iterator[dict[str, Any]]:
    """:func:`synthetic_records` one at a time, for files bigger than memory."""
    import random

    rng = random.Random(seed)
    for index in range(count):
        account, region = DEFAULT_ACCOUNT, DEFAULT_REGION
        group = f"sg-{rng.getrandbits(60):017x}"
        roll = rng.random()
        if roll < 0.05:
            detail = _detail(
                "RunInstances", {"instanceType": "t3.micro"}, {"requestId": "x"}, account, region, None
            )
        elif roll < 0.60:
            egress = rng.random() < 0.15
            rules = [
                _synthetic_rule(rng, group, egress, account, region) for _ in range(rng.randint(1, max_rules))
            ]
            name = "AuthorizeSecurityGroupEgress" if egress else "AuthorizeSecurityGroupIngress"
            request = {"groupId": group, "ipPermissions": {"items": [_as_permission(r) for r in rules]}}
            response: dict[str, Any] = {"requestId": str(index), "_return": True}
            if rng.random() < 0.9:
                response["securityGroupRuleSet"] = {
                    "items": [rule_set_item(r, account, region) for r in rules]
                }
            detail = _detail(name, request, response, account, region, None)
            if roll > 0.57:
                detail["errorCode"] = "Client.UnauthorizedOperation"
                detail["responseElements"] = None
        else:
            updates = {}
            for _ in range(rng.randint(1, max(1, max_rules // 4))):
                rule = _synthetic_rule(rng, group, False, account, region)
                new = {
                    k: v
                    for k, v in rule.items()
                    if k in ("IpProtocol", "FromPort", "ToPort", "CidrIpv4", "CidrIpv6", "PrefixListId")
                }
                if "ReferencedGroupInfo" in rule:  # the Modify API names a group source ReferencedGroupId
                    new["ReferencedGroupId"] = rule["ReferencedGroupInfo"]["GroupId"]
                updates[rule["SecurityGroupRuleId"]] = new
            detail = modify_event(group, updates, account=account, region=region)["detail"]
        yield detail


def _synthetic_rule(rng: Any, group: str, egress: bool, account: str, region: str) -> dict[str, Any]:
    protocol = rng.choice(("tcp", "tcp", "tcp", "udp", "icmp", "-1"))
    rule: dict[str, Any] = {
        "SecurityGroupRuleId": f"sgr-{rng.getrandbits(60):017x}",
        "GroupId": group,
        "IsEgress": egress,
        "IpProtocol": protocol,
    }
    if protocol in ("tcp", "udp"):
        if rng.random() < 0.8:
            low = high = rng.choice(_PORTS)
        else:
            low, high = rng.choice(_RANGES)
        rule["FromPort"], rule["ToPort"] = low, high
    elif protocol == "icmp":
        rule["FromPort"], rule["ToPort"] = 8, -1
    cidr = rng.choice(_CIDRS)
    if rng.random() < 0.1:
        rule["PrefixListId"] = f"pl-{rng.getrandbits(60):017x}"
    elif rng.random() < 0.1:
        rule["ReferencedGroupInfo"] = {"GroupId": f"sg-{rng.getrandbits(60):017x}"}
    elif ":" in cidr:
        rule["CidrIpv6"] = cidr
    else:
        rule["CidrIpv4"] = cidr
    return rule


def _as_permission(rule: Mapping[str, Any]) -> dict[str, Any]:
    perm: dict[str, Any] = {"IpProtocol": rule["IpProtocol"]}
    for key in ("FromPort", "ToPort"):
        if key in rule:
            perm[key] = rule[key]
    if "CidrIpv4" in rule:
        perm["IpRanges"] = [{"CidrIp": rule["CidrIpv4"]}]
    if "CidrIpv6" in rule:
        perm["Ipv6Ranges"] = [{"CidrIpv6": rule["CidrIpv6"]}]
    if "PrefixListId" in rule:
        perm["PrefixListIds"] = [{"PrefixListId": rule["PrefixListId"]}]
    if "ReferencedGroupInfo" in rule:
        perm["UserIdGroupPairs"] = [{"GroupId": rule["ReferencedGroupInfo"]["GroupId"]}]
    return _permission_to_cloudtrail(perm)


if __name__ == "__main__":  # python -m devtools.eventgen: the command line lives in eventgen_cli
    import sys

    from devtools.eventgen_cli import main

    sys.exit(main())
