"""The offline check as a library: render a stack under mocks, validate it, judge it with the pack.

``render`` runs the real program for one stack file; ``check_stack`` does what
``pulumi preview --policy-pack`` would, without an engine or a cluster: the
pack judges resources while the program declares them, every manifest is
validated against the Kubernetes schemas, and the stack is judged as a whole.
The CLI (``infra.offline.cli``), the tests and the benchmarks all go through
these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ai_platform_policies import cost
from infra.offline import manifests
from infra.offline.analyzer import PolicySession, Violation
from infra.offline.manifests import Manifest
from infra.offline.pack_process import policy_pack
from infra.offline.policy_config import load_policy_config, policy_config_path
from infra.offline.runtime import PROJECT_ROOT, RecordedResource, bounded_run, recording_monitor, run_program
from infra.offline.schema import SchemaError, validate_manifest
from infra.offline.stack_file import StackFile, display, read_stack_file
from model.config import PlatformConfig
from model.stack_config import STACK_CONFIG_DIR, ConfigError, parse_platform_config


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


#: Told how far a long check is: (phase, done, total or None while unknown).
ProgressReport = Callable[[str, int, "int | None"], None]


def _quiet(phase: str, done: int, total: int | None) -> None:
    """The default progress report: none."""


def stack_path(name: str) -> Path:
    return PROJECT_ROOT / STACK_CONFIG_DIR / f"Pulumi.{name}.yaml"


def stack_names() -> list[str]:
    """The committed stacks (``stacks/Pulumi.<name>.yaml``)."""
    return sorted(path.name.split(".")[1] for path in (PROJECT_ROOT / STACK_CONFIG_DIR).glob("Pulumi.*.yaml"))


def render(stack_file: Path) -> Rendered:
    """Validate the stack's config, then run the program under mocks.

    Raises ``ConfigError`` before anything runs when the config is invalid.
    """
    stack, config = _load(stack_file)
    with bounded_run():
        return _run(stack, config)


def _load(stack_file: Path) -> tuple[StackFile, PlatformConfig]:
    """Read and validate a stack file, naming the file in every problem."""
    stack = read_stack_file(stack_file)
    return stack, parse_platform_config(stack.values, stack.display_path, stack.secret_keys)


def _run(stack: StackFile, config: PlatformConfig, monitor: Any = None) -> Rendered:
    """Run the program; two resources that are one Kubernetes object are a ``ConfigError`` (nothing written)."""
    resources = run_program(stack, monitor)
    objects = manifests.to_manifests(resources)
    duplicates = manifests.duplicate_objects(objects)
    if duplicates:
        raise ConfigError(stack.display_path, duplicates)
    return Rendered(stack=stack, config=config, resources=resources, manifests=objects)


def stack_cost(rendered: Rendered) -> cost.Estimate:
    """The monthly cost of what the stack declares, at the stack's own prices."""
    return cost.estimate([r.view() for r in rendered.resources], rendered.config.pricing.to_prices())


def check_stack(stack_file: Path, policy_config: Path | None = None, progress: ProgressReport = _quiet) -> CheckReport:
    """``check`` as the CLI runs it: the policy pack judges resources while the program declares them.

    Both configs are validated before anything runs. Raises ``ConfigError``,
    ``PolicyConfigError``, ``PolicyPackError`` or ``ProgramError``. ``progress``
    hears, phase by phase, of every resource declared, every resource the pack
    has judged (from the pack's answer threads), every manifest validated, and
    the stack policies.
    """
    stack, config = _load(stack_file)
    config_path = policy_config or policy_config_path(config.environment)
    entries = load_policy_config(config_path)
    with policy_pack(stack) as pack, bounded_run():
        declared = 0

        def on_judged(judged: int) -> None:
            # Until the program is done, how many resources there will be is unknown.
            progress("judging resources (policy pack)", judged, declared if done_declaring else None)

        done_declaring = False
        session = PolicySession(pack, stack, entries, display(config_path), on_judged=on_judged)

        def on_register(resource: Any) -> None:
            nonlocal declared
            session.analyze(resource)
            declared += 1
            progress("declaring resources", declared, None)

        rendered = _run(stack, config, recording_monitor(on_register=on_register))
        done_declaring = True
        progress("declaring resources", declared, declared)
        session.judge_stack(rendered.resources)
        errors = _schema_errors(rendered, progress)
        progress("judging the whole stack (policy pack)", 0, 1)
        violations = session.finish(rendered.resources)
        progress("judging the whole stack (policy pack)", 1, 1)
    return CheckReport(rendered=rendered, schema_errors=errors, violations=violations)


def _schema_errors(rendered: Rendered, progress: ProgressReport = _quiet) -> list[SchemaError]:
    version = rendered.config.kubernetes_version
    errors: list[SchemaError] = []
    total = len(rendered.manifests)
    for done, manifest in enumerate(rendered.manifests, start=1):
        errors.extend(validate_manifest(manifest.body, version, f"manifests/{manifest.file_name}"))
        progress("validating manifests", done, total)
    return errors
