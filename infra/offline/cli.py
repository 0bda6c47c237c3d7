"""``python -m infra.offline``: render and check a stack without a cluster.

    python -m infra.offline render (--stack NAME | --config FILE) --out DIR
    python -m infra.offline check  (--stack NAME | --config FILE) [--out DIR] [--json] [--no-cache]
    python -m infra.offline diff   --stack NAME --base GITREF [--format text|markdown]
    python -m infra.offline cost   (--stack NAME | --config FILE) [--json | --format markdown]
    python -m infra.offline plan   (--stack NAME | --config FILE) --prometheus URL [--window 7d]
                                   [--latency-weight L] [--json | --format markdown]
    python -m infra.offline schema

Exit codes: 0 clean (advisory findings allowed); 1 schema errors or mandatory
policy violations (or a program failure); 2 invalid stack configuration, in
which case nothing is written; 3 ``diff --base`` names no commit; 141 the
reader of the output went away (``| head``), as if killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ai_platform_policies import cost
from infra.offline import check_cache
from infra.offline.check import (
    CheckReport,
    ProgressReport,
    check_stack,
    render,
    stack_cost,
    stack_names,
    stack_path,
)
from infra.offline.config_schema import reference_markdown, stack_file_schema, write_reference
from infra.offline.diff import BaseRefError, DiffError, compare, format_markdown, format_text, render_at_ref
from infra.offline.manifests import write_render
from infra.offline.pack_process import PolicyPackError
from infra.offline.plan import command as planner
from infra.offline.policy_config import PolicyConfigError
from infra.offline.runtime import PROJECT_ROOT, ProgramError
from infra.offline.schema import has_crd_schema, is_custom_resource
from infra.offline.stack_file import display
from model.stack_config import ConfigError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INVALID_CONFIG = 2
EXIT_BAD_BASE = 3
#: 128 + SIGPIPE: what a shell reports for a program whose reader went away.
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        code = check_cache.cached_check(arguments)
        if code is None:
            code = _run_command(_parser().parse_args(arguments))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) has gone: no traceback, and no second error when Python flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code


def _run_command(args: argparse.Namespace) -> int:
    """Run one command and map its errors to exit codes (and, with ``--json``, to a JSON error object)."""
    try:
        return _command(args)
    except ConfigError as error:
        lines = error.render().splitlines()
        return _fail(args, EXIT_INVALID_CONFIG, "invalid-config", "\n".join(lines), problems=lines[1:])
    except PolicyConfigError as error:
        return _fail(args, EXIT_INVALID_CONFIG, "invalid-policy-config", f"invalid policy configuration:\n{error}")
    except BaseRefError as error:
        return _fail(args, EXIT_BAD_BASE, "bad-base-ref", str(error))
    except (ProgramError, PolicyPackError, DiffError) as error:
        return _fail(args, EXIT_FINDINGS, "failed", str(error))


def _fail(args: argparse.Namespace, code: int, kind: str, message: str, problems: list[str] | None = None) -> int:
    """The message on stderr; with ``--json`` also ``{"error", "message", "problems"}`` on stdout."""
    print(message, file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": kind, "message": message, "problems": problems or []}, indent=2))
    return code


def _stack_file(args: argparse.Namespace) -> Path:
    if getattr(args, "config", None):
        return Path(args.config)
    path = stack_path(args.stack)
    if not path.exists():
        known = ", ".join(stack_names()) or "none"
        raise ConfigError(display(path), [f"no such stack file (the stacks are: {known})"])
    return path


def _command(args: argparse.Namespace) -> int:
    """Run one command; errors are mapped to exit codes by ``main``."""
    if args.command == "schema":
        return _schema(args)
    stack_file = _stack_file(args)
    if args.command == "diff":
        return _diff(args.stack, args.base, args.format)
    if args.command == "check":
        return _check(stack_file, args)
    if args.command == "plan":
        return planner.run(stack_file, args)
    rendered = render(stack_file)
    if args.command == "cost":
        result = stack_cost(rendered)
        if args.json:
            print(json.dumps(result.as_json(), indent=2))
        elif args.format == "markdown":
            print(cost.format_markdown(rendered.stack.stack, result))
        else:
            print(cost.format_text(rendered.stack.stack, result))
        return EXIT_OK
    write_render(Path(args.out), rendered.resources, rendered.manifests)
    print(
        f"rendered stack {rendered.stack.stack}: {len(rendered.resources)} resources, "
        f"{len(rendered.manifests)} manifests -> {args.out}"
    )
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    if args.write:
        if args.format != "markdown":
            raise SystemExit("schema: --write needs --format markdown")
        changed = write_reference(Path(args.write))
        print(f"{args.write}: stack configuration reference {'updated' if changed else 'already up to date'}")
    elif args.format == "markdown":
        print(reference_markdown(), end="")
    else:
        print(json.dumps(stack_file_schema(), indent=2))
    return EXIT_OK


def _check(stack_file: Path, args: argparse.Namespace) -> int:
    policy_config = Path(args.policy_config) if args.policy_config else None
    # The key is taken before the run, from the inputs the run reads.
    cache_key = check_cache.key(stack_file, policy_config) if check_cache.enabled(args) else None
    with _progress(enabled=not args.json and sys.stderr.isatty()) as progress:
        report = check_stack(stack_file, policy_config, progress)
    code = EXIT_FINDINGS if report.failed else EXIT_OK
    if cache_key is not None:
        rendered = report.rendered
        check_cache.store(
            cache_key,
            {
                "report": report.as_json(),
                "text": _report_text(report),
                "exit": code,
                "resources": [resource.as_json() for resource in rendered.resources],
                "manifests": [(manifest.file_name, manifest.body) for manifest in rendered.manifests],
            },
        )
    if args.out:
        write_render(Path(args.out), report.rendered.resources, report.rendered.manifests)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(_report_text(report), end="")
    return code


@contextlib.contextmanager
def _progress(*, enabled: bool) -> Iterator[ProgressReport]:
    """A progress bar per phase on stderr (a terminal only); gone when the check is done."""
    if not enabled:
        yield lambda phase, done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def report(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield report


def _diff(stack: str, base: str, output: str) -> int:
    """Render the stack at ``base`` and in the working tree once each, and compare."""
    head = render(stack_path(stack))
    before, base_prices = render_at_ref(PROJECT_ROOT, base, stack)
    after = json.loads(json.dumps([resource.as_json() for resource in head.resources]))
    result = compare(stack, before, after, (base_prices, head.config.pricing.to_prices()))
    print(format_markdown(result) if output == "markdown" else format_text(result))
    return EXIT_OK


def _report_text(report: CheckReport) -> str:
    """The text report ``check`` prints."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        _print_report(report)
    return output.getvalue()


def _print_report(report: CheckReport) -> None:
    rendered = report.rendered
    custom = sum(
        is_custom_resource(api := str(m.body.get("apiVersion", ""))) and not has_crd_schema(m.kind, api)
        for m in rendered.manifests
    )
    print(
        f"stack {rendered.stack.stack} ({rendered.config.environment}): {len(rendered.resources)} resources, "
        f"{len(rendered.manifests)} manifests, Kubernetes {rendered.config.kubernetes_version}"
        + (f" ({custom} custom resources are validated by their CRDs at apply time)" if custom else "")
    )
    for error in report.schema_errors:
        print(f"schema error: {error}")
    for violation in sorted(report.violations, key=lambda v: (not v.blocks, v.policy, v.urn)):
        resource = violation.urn.rsplit("::", 1)[-1] if violation.urn else "stack"
        print(f"{violation.enforcement_level}: {violation.policy}: {resource}: {violation.message}")
    mandatory = sum(v.blocks for v in report.violations)
    print(
        f"{len(report.schema_errors)} schema errors, {mandatory} mandatory violations, "
        f"{len(report.violations) - mandatory} advisory findings"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.offline",
        description="Render and check an ai-platform stack without a Pulumi engine, cluster or Docker daemon.",
        epilog="exit codes: 0 clean; 1 schema errors, mandatory violations or a failure; 2 invalid stack or "
        "policy configuration (nothing written); 3 diff --base names no commit; 141 output pipe closed",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")

    def add_stack_arguments(command: argparse.ArgumentParser) -> None:
        source = command.add_mutually_exclusive_group(required=True)
        source.add_argument("--stack", help="stack name: reads stacks/Pulumi.NAME.yaml")
        source.add_argument("--config", help="any Pulumi.<name>.yaml stack file")

    render_command = commands.add_parser("render", help="write manifests/ and resources.json")
    add_stack_arguments(render_command)
    render_command.add_argument("--out", required=True, help="output directory (manifests/ and resources.json)")

    check_command = commands.add_parser("check", help="render, validate schemas, run the policy pack")
    check_cache.add_check_arguments(check_command)

    cost_command = commands.add_parser("cost", help="what the stack costs per month, from its requests")
    add_stack_arguments(cost_command)
    output = cost_command.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON report")
    output.add_argument(
        "--format", choices=("text", "markdown"), default="text", help="text (default) or a markdown table"
    )

    planner.add_command(commands, add_stack_arguments)

    diff_command = commands.add_parser("diff", help="compare the desired state at a git ref with the working tree")
    diff_command.add_argument("--stack", required=True, help="stack name: stacks/Pulumi.NAME.yaml")
    diff_command.add_argument("--base", required=True, help="git ref to compare against, e.g. origin/main")
    diff_command.add_argument(
        "--format",
        choices=("text", "markdown"),
        default="text",
        help="text (default), or markdown for a pull-request comment",
    )

    schema_command = commands.add_parser(
        "schema", help="JSON Schema of a stack file (for editors), or the README's key reference"
    )
    schema_command.add_argument(
        "--format",
        choices=("json", "markdown"),
        default="json",
        help="json (default): the JSON Schema of a whole Pulumi.<stack>.yaml; markdown: the key reference tables",
    )
    schema_command.add_argument(
        "--write",
        metavar="README",
        help="with --format markdown: replace the generated section between the markers in this file",
    )
    return parser
