"""An example region as `aws ec2 describe-*` would have saved it, for `sgguard audit --from`: the README's
example, the HTML report's Chromium test and the screenshot in docs/ are all made from it.

    python -m devtools.audit_example DIR        # writes DIR/{rules,groups,interfaces,prefix-lists}.json
                                                #   and DIR/baseline.toml (exemptions dated from today)
    python -m devtools.audit_example --screenshot docs/audit-report.png

The estate is small and ordinary: a public web tier behind a load balancer with SSH left open, a
bastion whose SSH from anywhere is exempted until next week, a legacy admin box whose RDP exemption
expired, a VPC's default group with AWS's own rules, a cache open to an internet-wide block, a group
reached through a customer prefix list that holds 0.0.0.0/0, and compliant groups around them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ACCOUNT = "111122223333"
REGION = "eu-west-1"
VPC = "vpc-0a1b2c3d4e5f60789"
LEGACY_VPC = "vpc-0f9e8d7c6b5a40321"
PUBLIC_LIST = "pl-0c0ffee0c0ffee001"

GROUPS = {
    "sg-0a11c0ffee0000001": ("web-public", VPC),
    "sg-0a11c0ffee0000002": ("bastion", VPC),
    "sg-0a11c0ffee0000003": ("legacy-admin", LEGACY_VPC),
    "sg-0a11c0ffee0000004": ("default", VPC),
    "sg-0a11c0ffee0000005": ("cache", VPC),
    "sg-0a11c0ffee0000006": ("partner-sftp", VPC),
    "sg-0a11c0ffee0000007": ("db", VPC),
    "sg-0a11c0ffee0000008": ("app", VPC),
    "sg-0a11c0ffee0000009": ("build-agents", VPC),
}


def _rule(n: int, group: str, protocol: str, ports: tuple[int, int] | None, egress: bool = False,
          description: str | None = None, **source: Any) -> dict[str, Any]:  # fmt: skip
    rule_id = f"sgr-0e{n:015x}"
    entry: dict[str, Any] = {
        "SecurityGroupRuleId": rule_id,
        "GroupId": group,
        "GroupOwnerId": ACCOUNT,
        "IsEgress": egress,
        "IpProtocol": protocol,
        "FromPort": ports[0] if ports else -1,
        "ToPort": ports[1] if ports else -1,
        **source,
        "SecurityGroupRuleArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group-rule/{rule_id}",
        "Tags": [],
    }
    if description:
        entry["Description"] = description
    return entry


def rules() -> list[dict[str, Any]]:
    g = list(GROUPS)
    world4, world6 = {"CidrIpv4": "0.0.0.0/0"}, {"CidrIpv6": "::/0"}
    made = [
        _rule(1, g[0], "tcp", (443, 443), description="HTTPS from anywhere", **world4),
        _rule(2, g[0], "tcp", (22, 22), description="temporary, remove after the migration", **world4),
        _rule(3, g[0], "tcp", (22, 22), **world6),
        _rule(4, g[0], "tcp", (8080, 8080), description="health checks", **world4),
        _rule(5, g[1], "tcp", (22, 22), description="JIT SSH, ticket OPS-412", **world4),
        _rule(6, g[2], "tcp", (3389, 3389), description="vendor remote support", **world4),
        _rule(7, g[3], "-1", None, ReferencedGroupInfo={"GroupId": g[3], "UserId": ACCOUNT}),
        _rule(8, g[3], "-1", None, egress=True, **world4),
        _rule(9, g[4], "tcp", (6379, 6379), description="cache for the data team", CidrIpv4="11.0.0.0/8"),
        _rule(10, g[5], "tcp", (22, 22), description="partners", PrefixListId=PUBLIC_LIST),
        _rule(11, g[6], "tcp", (5432, 5432), CidrIpv4="10.0.0.0/16"),
        _rule(12, g[7], "tcp", (8080, 8080), ReferencedGroupInfo={"GroupId": g[0], "UserId": ACCOUNT}),
        _rule(13, g[8], "tcp", (0, 65535), description="build agents (all ports)", **world4),
    ]
    # every group but the default one keeps AWS's own egress-to-anywhere rule: compliant
    made += [_rule(100 + i, group, "-1", None, egress=True, **world4) for i, group in enumerate(g) if i != 3]
    return made


def groups() -> list[dict[str, Any]]:
    return [
        {
            "GroupId": group_id,
            "GroupName": name,
            "Description": "default VPC security group" if name == "default" else f"{name} tier",
            "VpcId": vpc,
            "OwnerId": ACCOUNT,
            "IpPermissions": [],
            "IpPermissionsEgress": [],
            "Tags": [],
        }
        for group_id, (name, vpc) in GROUPS.items()
    ]


def _interface(n: int, group: str, kind: dict[str, Any], public_ip: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "NetworkInterfaceId": f"eni-0b{n:015x}",
        "Groups": [{"GroupId": group, "GroupName": GROUPS[group][0]}],
        "PrivateIpAddress": f"10.0.{n}.10",
        "Status": "in-use",
        "VpcId": GROUPS[group][1],
        **kind,
    }
    if public_ip:
        entry["Association"] = {"PublicIp": public_ip}
    return entry


def interfaces() -> list[dict[str, Any]]:
    g = list(GROUPS)
    instance = {"InterfaceType": "interface", "Attachment": {"InstanceId": "i-0123456789abcdef0"}}
    alb = {"InterfaceType": "interface", "RequesterId": "amazon-elb", "Description": "ELB app/web/50dc6c"}
    lam = {"InterfaceType": "lambda", "Description": "AWS Lambda VPC ENI-build"}
    rds = {"InterfaceType": "interface", "RequesterId": "amazon-rds", "Description": "RDSNetworkInterface"}
    return [
        _interface(1, g[0], alb, "203.0.113.10"),
        _interface(2, g[0], alb, "203.0.113.11"),
        _interface(3, g[0], instance, None),
        _interface(4, g[1], instance, "203.0.113.20"),
        _interface(5, g[2], instance, "198.51.100.7"),
        _interface(6, g[4], instance, None),
        _interface(7, g[6], rds, None),
        _interface(8, g[8], lam, None),
    ]


def prefix_lists() -> dict[str, Any]:
    return {
        "PrefixLists": [
            {"PrefixListId": PUBLIC_LIST, "PrefixListName": "partners", "OwnerId": ACCOUNT, "Version": 4},
        ]
    }


def prefix_list_entries() -> dict[str, Any]:
    """What `aws ec2 get-managed-prefix-list-entries` prints, with the list's id added (AWS leaves it out)."""
    entries = [
        {"Cidr": "192.0.2.0/24", "Description": "partner A"},
        {"Cidr": "0.0.0.0/0", "Description": "?"},
    ]
    return {"Entries": entries, "PrefixListId": PUBLIC_LIST}


def baseline(today: date) -> str:
    g = list(GROUPS)
    return f"""name = "acme"
extends = "aws-foundational"

[[exemptions]]
id = "JIT-SSH-BASTION"
controls = ["EC2.13", "EC2.53", "EC2.18", "EC2.19"]
scope = {{ groups = ["{g[1]}"] }}
reason = "SSH from anywhere to the bastion until the VPN is back, ticket OPS-412"
expires = {(today + timedelta(days=6)).isoformat()}

[[exemptions]]
id = "VENDOR-RDP"
controls = ["EC2.14", "EC2.53", "EC2.18", "EC2.19"]
scope = {{ groups = ["{g[2]}"] }}
reason = "vendor remote support for the legacy admin box, ticket OPS-377"
expires = {(today - timedelta(days=3)).isoformat()}
"""


def write_example(directory: Path, today: date | None = None) -> dict[str, Path]:
    """The example's files; the describe outputs as the AWS CLI prints them (indent 4)."""
    today = today or datetime.now(UTC).date()
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "rules": ({"SecurityGroupRules": rules()}, "rules.json"),
        "groups": ({"SecurityGroups": groups()}, "groups.json"),
        "interfaces": ({"NetworkInterfaces": interfaces()}, "interfaces.json"),
        "prefix-lists": (prefix_lists(), "prefix-lists.json"),
        "entries": (prefix_list_entries(), "partners-entries.json"),
    }
    written = {}
    for key, (document, name) in files.items():
        path = directory / name
        path.write_text(json.dumps(document, indent=4) + "\n")
        written[key] = path
    written["baseline"] = directory / "baseline.toml"
    written["baseline"].write_text(baseline(today))
    return written


def screenshot(png: Path) -> None:
    """Render the example's HTML report in headless Chromium and save the screenshot."""
    from devtools.browser import find_chromium
    from devtools.browser import screenshot as take

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        files = write_example(Path(tmp))
        page = Path(tmp) / "audit.html"
        dumps = [str(files[k]) for k in ("rules", "groups", "interfaces", "prefix-lists", "entries")]
        sgguard = str(Path(sys.executable).with_name("sgguard"))
        command = [sgguard, "audit", "--from", *dumps, "--baseline", str(files["baseline"])]
        subprocess.run([*command, "--format", "html", "--output", str(page)], check=False)
        take(chromium, page, png, width=1280, height=1600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path)
    parser.add_argument("--screenshot", type=Path, metavar="PNG")
    args = parser.parse_args(argv)
    if args.screenshot:
        screenshot(args.screenshot)
    if args.directory:
        for path in write_example(args.directory).values():
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
