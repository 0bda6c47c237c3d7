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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import cost
from infra.config import PlatformConfig
from infra.offline.diff import DiffError, compare, format_markdown, format_text, render_at_ref
from infra.offline.manifests import Manifest, to_manifests, write_render
from infra.offline.policy_gate import (
    PolicyConfigError,
    PolicyPackError,
    PolicySession,
    Violation,
    evaluate,
    load_policy_config,
    policy_config_path,
    policy_pack,
)
from infra.offline.runtime import (
    PROJECT_ROOT,
    PlatformMocks,
    ProgramError,
    RecordedResource,
    RecordingMonitor,
    run_program,
)
from infra.offline.schema import SchemaError, is_custom_resource, validate_manifest
from infra.offline.stack_file import StackFile, read_stack_file
from infra.stack_config import STACK_CONFIG_DIR, ConfigError, parse_platform_config

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INVALID_CONFIG = 2


@dataclass
class Rendered:
    """A stack's validated config and everything its program declared."""

    stack: StackFile
    config: PlatformConfig
    resources: list[RecordedResource]
    manifests: list[Manifest]


@dataclass
class CheckReport:
    rendered: Rendered
    schema_errors: list[SchemaError] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.schema_errors) or any(v.blocks for v in self.violations)

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.rendered.stack.stack,
            "environment": self.rendered.config.environment,
            "resources": len(self.rendered.resources),
            "manifests": len(self.rendered.manifests),
            "schemaErrors": [str(error) for error in self.schema_errors],
            "violations": [violation.as_json() for violation in self.violations],
        }


def stack_path(name: str) -> Path:
    return PROJECT_ROOT / STACK_CONFIG_DIR / f"Pulumi.{name}.yaml"


def render(stack_file: Path) -> Rendered:
    """Validate the stack's config, then run the program under mocks.

    Raises ``ConfigError`` before anything runs when the config is invalid.
    """
    stack, config = _load(stack_file)
    return _run(stack, config)


def _load(stack_file: Path) -> tuple[StackFile, PlatformConfig]:
    """Read and validate a stack file, naming the file in every problem."""
    stack = read_stack_file(stack_file)
    return stack, parse_platform_config(stack.values, stack.display_path, stack.secret_keys)


def _run(stack: StackFile, config: PlatformConfig, monitor: RecordingMonitor | None = None) -> Rendered:
    resources = run_program(stack, monitor)
    return Rendered(stack=stack, config=config, resources=resources, manifests=to_manifests(resources))


def stack_cost(rendered: Rendered) -> cost.Estimate:
    """The monthly cost of what the stack declares, at the stack's own prices."""
    return cost.estimate([r.view() for r in rendered.resources], cost.Prices.from_config(rendered.config.pricing))


def check_stack(stack_file: Path, policy_config: Path | None = None) -> CheckReport:
    """``check`` as the CLI runs it: the policy pack judges resources while the program declares them.

    Both configs are validated before anything runs. Raises ``ConfigError``,
    ``PolicyConfigError``, ``PolicyPackError`` or ``ProgramError``.
    """
    stack, config = _load(stack_file)
    config_path = policy_config or policy_config_path(config.environment)
    entries = load_policy_config(config_path)
    with policy_pack(stack) as pack:
        session = PolicySession(pack, stack, entries, _display(config_path))
        rendered = _run(stack, config, RecordingMonitor(PlatformMocks(), on_register=session.analyze))
        errors = _schema_errors(rendered)
        violations = session.finish(rendered.resources)
    return CheckReport(rendered=rendered, schema_errors=errors, violations=violations)


def _schema_errors(rendered: Rendered) -> list[SchemaError]:
    version = rendered.config.kubernetes_version
    return [
        error
        for manifest in rendered.manifests
        for error in validate_manifest(manifest.body, version, f"manifests/{manifest.file_name}")
    ]


def check(rendered: Rendered, policy_config: Path | None = None) -> CheckReport:
    """Schema-validate every manifest, then run the policy pack with the environment's config.

    Raises ``PolicyConfigError`` for an invalid policy config file and
    ``PolicyPackError`` when the pack cannot run.
    """
    errors = _schema_errors(rendered)
    config_path = policy_config or policy_config_path(rendered.config.environment)
    config = load_policy_config(config_path)
    with policy_pack(rendered.stack) as pack:
        violations = evaluate(pack, rendered.stack, rendered.resources, config, _display(config_path))
    return CheckReport(rendered=rendered, schema_errors=errors, violations=violations)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


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
    result = compare(stack, before, after, (base_prices, cost.Prices.from_config(head.config.pricing)))
    print(format_markdown(result) if output == "markdown" else format_text(result))
    return EXIT_OK


def _print_report(report: CheckReport) -> None:
    rendered = report.rendered
    custom = sum(is_custom_resource(str(m.body.get("apiVersion", ""))) for m in rendered.manifests)
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
