"""`sgguard`: the command line. Each command group lives in its own module and registers itself here.

Exit status: 0 success, 1 when an input was invalid (after processing the rest), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgguard",
        description="Keep AWS security groups compliant: judge, replay and manage the baseline.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from chalicelib import cli_baseline, cli_bootstrap, cli_replay

    cli_baseline.register(commands)
    cli_bootstrap.register(commands)
    cli_replay.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except BrokenPipeError:  # `sgguard ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
