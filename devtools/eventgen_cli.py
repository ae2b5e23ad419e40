"""`python -m devtools.eventgen`: make test data for `sgguard replay` (see devtools/eventgen.py).

Kept apart from the generator so that importing the generator (tests, the demo, the benchmarks)
never parses arguments.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

EPILOG = """\
examples:
  python -m devtools.eventgen --count 1000 -o trail.json          one trail log file {"Records": [...]}
  python -m devtools.eventgen --count 20000 --gzip -o trail.json.gz
  python -m devtools.eventgen --format events --count 5           EventBridge events, one per line
  python -m devtools.eventgen --hostile --count 50 -o hostile.json   with records built to break readers
  python -m devtools.eventgen --count 100 | sgguard replay --offline -

The same --seed gives the same rules (ids, ports, sources); event ids and times are new each run.
exit status: 0 written; 1 the output could not be written; 2 a usage error.
"""

FORMATS = ("log", "jsonl", "events")


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def _rules(text: str) -> int:
    value = _count(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"expected 1 to 1000 rules per event, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.eventgen",
        description="Generate CloudTrail security-group events, as a trail delivers them: Authorize "
        "and ModifySecurityGroupRules calls with 1 to --max-rules rules each (sources from the world to "
        "private ranges, prefix lists, groups), refused calls and unrelated APIs mixed in.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--count", type=_count, default=100, metavar="N", help="events (default 100)")
    parser.add_argument("--seed", type=int, default=7, help="the random seed (default 7)")
    parser.add_argument("--max-rules", type=_rules, default=60, metavar="N", help="rules per event, at most")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="log",
        help="log: a trail's log file (default); jsonl: one bare record per line; "
        "events: one EventBridge event per line (what the Lambda receives)",
    )
    parser.add_argument(
        "--hostile",
        action="store_true",
        help="mix in records built to break readers: terminal escapes in ids, deep nesting, wrong types",
    )
    parser.add_argument("--gzip", action="store_true", help="compress the output (as a trail's .json.gz)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    return parser


def hostile_records(seed: int) -> Iterator[dict[str, Any]]:
    """Records an attacker who can write to the trail's bucket might leave there."""
    from devtools.eventgen import iter_synthetic_records

    base = next(iter_synthetic_records(1, seed, 1))
    request = base["requestParameters"]
    yield {**base, "requestParameters": {**request, "groupId": "sg-\x1b[2J\x1b]0;pwned\x07"}}
    yield {**base, "requestParameters": {**request, "ipPermissions": {"items": [[[[["deep"]]]]]}}}
    deep: list[Any] = []
    for _ in range(150):  # deeper than any reader should follow (sgguard's limit is 100)
        deep = [deep]
    yield {**base, "additionalEventData": {"x": deep}}
    yield {**base, "eventName": ["AuthorizeSecurityGroupIngress"]}
    yield {**base, "eventTime": None, "requestParameters": None}
    yield {**base, "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/\u202egnp.exe"}}


def _records(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    from devtools.eventgen import iter_synthetic_records

    if not args.hostile:
        yield from iter_synthetic_records(args.count, args.seed, args.max_rules)
        return
    hostile = list(hostile_records(args.seed))
    for index, record in enumerate(iter_synthetic_records(args.count, args.seed, args.max_rules)):
        yield hostile[(index // 5) % len(hostile)] if index % 5 == 4 else record


def write(args: argparse.Namespace, out: IO[str]) -> None:
    from devtools.eventgen import DEFAULT_ACCOUNT, DEFAULT_REGION, _envelope

    if args.format == "log":
        out.write('{"Records": [')
        for index, record in enumerate(_records(args)):
            out.write(("," if index else "") + "\n" + json.dumps(record))
        out.write("\n]}\n")
        return
    for record in _records(args):
        value = _envelope(record, DEFAULT_ACCOUNT, DEFAULT_REGION) if args.format == "events" else record
        out.write(json.dumps(value) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.output is None:
            if args.gzip:
                with gzip.open(sys.stdout.buffer, "wt", encoding="utf-8") as zipped:
                    write(args, zipped)
            else:
                write(args, sys.stdout)
            return 0
        opener: Any = gzip.open if args.gzip else open
        with opener(args.output, "wt", encoding="utf-8") as out:
            write(args, out)
    except BrokenPipeError:
        return 0
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        print(f"eventgen: cannot write {args.output or 'standard output'}: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\neventgen: interrupted", file=sys.stderr)
        return 130
    return 0
