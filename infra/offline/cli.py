"""``python -m infra.offline``: render and check a stack without a cluster.

    python -m infra.offline render (--stack NAME | --config FILE) --out DIR
    python -m infra.offline check  (--stack NAME | --config FILE) [--out DIR] [--json]
    python -m infra.offline diff   --stack NAME --base GITREF [--format text|markdown]
    python -m infra.offline cost   (--stack NAME | --config FILE) [--json | --format markdown]
    python -m infra.offline schema

Exit codes: 0 clean (advisory findings allowed); 1 schema errors or mandatory
policy violations (or a program failure); 2 invalid stack configuration, in
which case nothing is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ai_platform_policies import cost
from infra.offline.check import CheckReport, check_stack, render, stack_cost, stack_path
from infra.offline.diff import DiffError, compare, format_markdown, format_text, render_at_ref
from infra.offline.manifests import write_render
from infra.offline.pack_process import PolicyPackError
from infra.offline.policy_config import PolicyConfigError
from infra.offline.runtime import PROJECT_ROOT, ProgramError
from infra.offline.schema import has_crd_schema, is_custom_resource
from model.config import PlatformConfig
from model.stack_config import ConfigError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INVALID_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _command(args)
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return EXIT_INVALID_CONFIG
    except PolicyConfigError as error:
        print(f"invalid policy configuration:\n{error}", file=sys.stderr)
        return EXIT_INVALID_CONFIG
    except (ProgramError, PolicyPackError, DiffError) as error:
        print(str(error), file=sys.stderr)
        return EXIT_FINDINGS


def _command(args: argparse.Namespace) -> int:
    """Run one command; errors are mapped to exit codes by ``main``."""
    if args.command == "schema":
        print(json.dumps(PlatformConfig.model_json_schema(by_alias=True), indent=2))
        return EXIT_OK
    if args.command == "diff":
        return _diff(args.stack, args.base, args.format)
    stack_file = Path(args.config) if args.config else stack_path(args.stack)
    if args.command == "check":
        return _check(stack_file, args)
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


def _check(stack_file: Path, args: argparse.Namespace) -> int:
    report = check_stack(stack_file, Path(args.policy_config) if args.policy_config else None)
    if args.out:
        write_render(Path(args.out), report.rendered.resources, report.rendered.manifests)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        _print_report(report)
    return EXIT_FINDINGS if report.failed else EXIT_OK


def _diff(stack: str, base: str, output: str) -> int:
    """Render the stack at ``base`` and in the working tree once each, and compare."""
    head = render(stack_path(stack))
    before, base_prices = render_at_ref(PROJECT_ROOT, base, stack)
    after = json.loads(json.dumps([resource.as_json() for resource in head.resources]))
    result = compare(stack, before, after, (base_prices, head.config.pricing.to_prices()))
    print(format_markdown(result) if output == "markdown" else format_text(result))
    return EXIT_OK


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
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def add_stack_arguments(command: argparse.ArgumentParser) -> None:
        source = command.add_mutually_exclusive_group(required=True)
        source.add_argument("--stack", help="stack name: reads stacks/Pulumi.NAME.yaml")
        source.add_argument("--config", help="any Pulumi.<name>.yaml stack file")

    render_command = commands.add_parser("render", help="write manifests/ and resources.json")
    add_stack_arguments(render_command)
    render_command.add_argument("--out", required=True, help="output directory")

    check_command = commands.add_parser("check", help="render, validate schemas, run the policy pack")
    add_stack_arguments(check_command)
    check_command.add_argument("--out", help="also write the render here")
    check_command.add_argument("--json", action="store_true", help="print a JSON report")
    check_command.add_argument(
        "--policy-config", help="policy pack config file (default: policies/config/<environment>.json)"
    )

    cost_command = commands.add_parser("cost", help="what the stack costs per month, from its requests")
    add_stack_arguments(cost_command)
    output = cost_command.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON report")
    output.add_argument("--format", choices=("text", "markdown"), default="text")

    diff_command = commands.add_parser("diff", help="compare the desired state at a git ref with the working tree")
    diff_command.add_argument("--stack", required=True, help="stack name: stacks/Pulumi.NAME.yaml")
    diff_command.add_argument("--base", required=True, help="git ref to compare against, e.g. origin/main")
    diff_command.add_argument("--format", choices=("text", "markdown"), default="text")

    commands.add_parser("schema", help="print the JSON Schema of the ai-platform stack config")
    return parser
