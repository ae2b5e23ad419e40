"""`sgguard`: the command line. Each command group lives in its own module and registers itself here.

Exit status: 0 success, 1 when an input was invalid (after processing the rest), 2 for usage errors,
130 when interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence

Command = Callable[[argparse.Namespace], int]
INTERRUPTED = 130

EPILOG = """\
examples:
  sgguard baseline validate examples/acme-baseline.toml   check a baseline before it ships
  sgguard baseline show --preset strict                   the controls a preset enforces
  sgguard replay --offline tests/fixtures/cloudtrail/     judge recorded events, asking AWS nothing

Each command has its own --help with examples. Exit status: 0 success, 1 an input was invalid (the
rest was still processed), 2 a usage error, 130 interrupted.
"""


def version() -> str:
    """The installed package's version (pyproject.toml is its one source)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("sgguard")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgguard",
        description="Keep AWS security groups compliant: judge, replay and manage the baseline.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sgguard {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from chalicelib import cli_baseline, cli_bootstrap, cli_replay

    cli_baseline.register(commands)
    cli_bootstrap.register(commands)
    cli_replay.register(commands)
    from chalicelib.sweep import cli as cli_audit

    cli_audit.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        run: Command = args.run
        return run(args)
    except BrokenPipeError:  # `sgguard ... | head`
        return 0
    except KeyboardInterrupt:  # commands that print a partial result catch it themselves
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("\nsgguard: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
