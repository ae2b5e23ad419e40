"""`sgguard bootstrap`: what `chalice deploy` needs around the functions, made with your credentials."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130

EXAMPLES = textwrap.dedent(
    """\
    examples:
      sgguard bootstrap --stage prod --email team@example.com   topic (+ e-mail), table, queue, alarms
      chalice deploy --stage prod                               role, function, EventBridge rule
      sgguard bootstrap --stage prod                            connects the function to its on-failure queue
      sgguard bootstrap --stage prod --dry-run --format json    what it would do, changing nothing

    exit status: 0 done (steps marked pending wait for `chalice deploy`), 1 AWS refused a step,
    2 usage or project error, 130 interrupted.
    """
)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "bootstrap",
        help="create or find what `chalice deploy --stage S` needs around the functions",
        description="Create, or find, the SNS topic, the idempotency table, the on-failure queue, the "
        "alarms and (once `chalice deploy` has made the functions) their on-failure destination. "
        "Idempotent: a second run changes nothing and says so.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stage", required=True, help="a stage of .chalice/config.json (dev, prod)")
    parser.add_argument("--email", help="subscribe this address to the stage's topic")
    parser.add_argument("--region", help="the region to deploy to (default: your AWS configuration's)")
    parser.add_argument("--profile", help="an AWS profile (default: your AWS configuration's)")
    parser.add_argument(
        "--project-dir", type=Path, default=Path.cwd(), help="the sgguard project (default: here)"
    )
    parser.add_argument("--dry-run", action="store_true", help="look, and say what would change")
    parser.add_argument("--format", choices=("text", "json", "jsonl"), default="text")
    parser.set_defaults(run=_bootstrap, parser=parser)


def _bootstrap(args: argparse.Namespace) -> int:
    from chalicelib.deploy.bootstrap import Bootstrap, BootstrapError, Step
    from chalicelib.deploy.stage import StageError, load_stage

    if args.email is not None and "@" not in args.email:
        args.parser.error(f"--email {args.email!r} is not an e-mail address")
    try:
        stage = load_stage(args.project_dir.resolve(), args.stage)
    except StageError as error:
        print(f"sgguard bootstrap: {error}", file=sys.stderr)
        return USAGE
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    except BotoCoreError as error:
        print(f"sgguard bootstrap: {error}", file=sys.stderr)
        return USAGE
    if not session.region_name:
        print("sgguard bootstrap: no AWS region: pass --region or set AWS_REGION", file=sys.stderr)
        return USAGE
    steps: list[Step] = []
    status = OK
    try:
        for step in Bootstrap(stage, session, email=args.email, dry_run=args.dry_run).run():
            steps.append(step)
            if args.format == "text":
                detail = f"  ({step.detail})" if step.detail else ""
                print(f"{step.action:<13} {step.resource:<22} {step.name}{detail}", flush=True)
            elif args.format == "jsonl":
                print(json.dumps(step.to_json_dict()), flush=True)
    except BootstrapError as error:
        print(f"sgguard bootstrap: {error}", file=sys.stderr)
        status = FAILED
    except KeyboardInterrupt:
        print(
            "sgguard bootstrap: interrupted; run it again to finish (it picks up what exists)",
            file=sys.stderr,
        )
        return INTERRUPTED
    pending = [s for s in steps if s.action == "pending"]
    if args.format == "json":
        document = {
            "stage": stage.name,
            "region": session.region_name,
            "dry_run": args.dry_run,
            "complete": status == OK and not pending,
            "steps": [s.to_json_dict() for s in steps],
        }
        print(json.dumps(document, indent=2))
    elif args.format == "text" and status == OK:
        changed = sum(s.action not in ("found", "pending") for s in steps)
        summary = f"{changed} changed, {sum(s.action == 'found' for s in steps)} found"
        if pending:
            summary += (
                f", {len(pending)} pending: run `chalice deploy --stage {stage.name}`, then bootstrap again"
            )
        print(summary)
    return status
