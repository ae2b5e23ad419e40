"""Peak memory of one region's sweep: ``python -m benchmarks.sweep_memory [RULES] [--enforce] [--keep-all]``.

Drives :func:`chalicelib.sweep.shell.sweep_region` (the scheduled sweep's code, report or enforce mode)
over a port that answers like EC2 would, page by page (1,000 rules), without moto (whose own memory
would be measured instead): RULES rules in RULES/50 groups, about one in five violating, a few groups
with interfaces. Prints the rules per second and the process's peak RSS (VmHWM), and the SNS summary's
size. The port builds each page when asked, so what is measured is the sweep's own memory.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from chalicelib.adapters.ec2 import RevokeResult
from chalicelib.baseline import load_baseline
from chalicelib.rules import Direction, PrefixList
from chalicelib.sweep import summary
from chalicelib.sweep.scheduled import CARRIED_FINDINGS, finding_logger
from chalicelib.sweep.shell import RULES_PER_PAGE, sweep_region

PER_GROUP = 50


class SyntheticRegion:
    def __init__(self, rules: int, seed: int = 3) -> None:
        self.groups = [f"sg-{n:017x}" for n in range(max(1, rules // PER_GROUP))]
        self.rules = rules
        self.seed = seed
        self.revoked = 0

    def security_groups(self) -> Iterator[Mapping[str, Any]]:
        for n, group in enumerate(self.groups):
            yield {
                "GroupId": group,
                "GroupName": "default" if n % 97 == 0 else f"app-{n}",
                "VpcId": "vpc-0000000000000000a",
            }

    def _rule(self, rng: random.Random, group: str, n: int) -> dict[str, Any]:
        bad = rng.random() < 0.2
        port = rng.choice((22, 3389, 5432, 8080)) if bad else rng.choice((443, 80, 5432))
        return {
            "SecurityGroupRuleId": f"sgr-{rng.getrandbits(68):017x}",
            "GroupId": group,
            "GroupOwnerId": "111122223333",
            "IsEgress": False,
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "CidrIpv4": "0.0.0.0/0" if bad or port in (80, 443) else f"10.{n % 256}.0.0/16",
            "Description": f"rule {n}",
            "Tags": [],
        }

    def rule_pages(self, group_ids: Sequence[str]) -> Iterator[Sequence[Mapping[str, Any]]]:
        rng = random.Random(f"{self.seed}-{group_ids[0]}")
        page: list[dict[str, Any]] = []
        for group in group_ids:
            for n in range(PER_GROUP):
                page.append(self._rule(rng, group, n))
                if len(page) == RULES_PER_PAGE:
                    yield page
                    page = []
        if page:
            yield page

    def prefix_lists(self, list_ids: Iterable[str]) -> dict[str, PrefixList | str]:
        return {}

    def network_interfaces(self, group_ids: Sequence[str]) -> Iterator[Mapping[str, Any]]:
        for group in group_ids[:3]:
            yield {
                "NetworkInterfaceId": f"eni-{group[3:]}",
                "InterfaceType": "interface",
                "Attachment": {"InstanceId": f"i-{group[3:]}"},
                "Association": {"PublicIp": "198.51.100.1"},
                "Groups": [{"GroupId": group}],
            }

    def revoke(self, group_id: str, direction: Direction, rule_ids: list[str]) -> dict[str, RevokeResult]:
        self.revoked += len(rule_ids)
        return dict.fromkeys(rule_ids, RevokeResult("revoked"))


def peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str]) -> None:
    rules = int(argv[0]) if argv and argv[0].isdigit() else 100_000
    mode = "enforce" if "--enforce" in argv else "report"
    region = SyntheticRegion(rules)
    baseline = load_baseline()
    before = peak_mb()
    start = time.perf_counter()
    keep_all = "--keep-all" in argv  # the report lists every violating rule (sgguard audit's json)
    with open(os.devnull, "w") as sink:
        run = sweep_region(
            region,
            baseline,
            account="111122223333",
            region="eu-west-1",
            mode=mode,  # type: ignore[arg-type]
            on_finding=None if keep_all else finding_logger("bench", "111122223333", "eu-west-1", sink),
            max_findings=None if keep_all else CARRIED_FINDINGS,
        )
    elapsed = time.perf_counter() - start
    message = summary.render(run.report)
    kept = ", every finding kept" if keep_all else ""
    t = run.report.totals
    print(
        f"{t.rules:,} rules in {t.groups:,} groups ({mode}{kept}): {t.violating:,} violating, "
        f"{region.revoked:,} revoked; "
        f"{t.rules / elapsed:,.0f} rules/s; peak RSS {peak_mb():.0f} MB (before the sweep {before:.0f} MB); "
        f"summary {len(message.body.encode()):,} bytes"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
