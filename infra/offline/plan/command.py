"""``python -m infra.offline plan``: its arguments and its run, hooked into the offline CLI.

Exit codes: 0 every service planned; 1 some service has no plan (Prometheus
unreachable, no data, too little data), each with one line on stderr while
the others are still planned; 2 invalid arguments or stack file (as for the
other commands).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from infra.offline.plan import report
from infra.offline.plan.planner import plan_stack
from infra.offline.plan.prometheus import Prometheus, parse_duration

EXIT_OK = 0
EXIT_NO_PLAN = 1


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    add_stack_arguments: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``plan`` to the CLI's subcommands."""
    command = commands.add_parser("plan", help="capacity plan from Prometheus: replicas and requests per service")
    add_stack_arguments(command)
    command.add_argument("--prometheus", required=True, help="Prometheus base URL, e.g. http://prometheus:9090")
    command.add_argument("--window", type=_duration, default="7d", help="history to read (default 7d)")
    command.add_argument(
        "--latency-weight",
        type=_weight,
        default=1.0,
        help="lambda: currency per month per ms of p95 above the SLO, used when no size meets it (default 1)",
    )
    output = command.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON report")
    output.add_argument(
        "--format", choices=("text", "markdown"), default="text", help="text, or markdown for a pull-request comment"
    )


def run(stack_file: Path, args: argparse.Namespace) -> int:
    """Plan the stack; every service without a plan gets a line on stderr and the exit code 1."""
    plan = plan_stack(stack_file, Prometheus(args.prometheus), args.window, args.latency_weight)
    for name, message in plan.errors.items():
        print(f"{name}: no plan: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_json(plan), indent=2))
    elif args.format == "markdown":
        print(report.format_markdown(plan))
    else:
        print(report.format_text(plan))
    return EXIT_OK if plan.complete else EXIT_NO_PLAN


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _weight(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError("the latency weight must be a number >= 0")
    return value
