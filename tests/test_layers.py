"""The project's structure holds: installed not patched, SDK internals in one shim, a pack that stands alone."""

from __future__ import annotations

import ast
import inspect
import shutil
import textwrap
from pathlib import Path

from pulumi.runtime import mocks
from pulumi.runtime.proto import resource_pb2

from infra import sdk
from infra.offline.analyzer import evaluate
from infra.offline.pack_process import policy_pack
from infra.offline.policy_config import load_policy_config, policy_config_path
from infra.offline.runtime import PROJECT_ROOT
from infra.offline.stack_file import StackFile
from tests import policy_fixtures as fx

SOURCE_FOLDERS = ("model", "components", "infra", "policies", "tests", "benchmarks", "services")


def python_files() -> list[Path]:
    return sorted(
        path
        for folder in SOURCE_FOLDERS
        for path in (PROJECT_ROOT / folder).rglob("*.py")
        if ".venv" not in path.parts and "__pycache__" not in path.parts
    )


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_source_file_edits_sys_path() -> None:
    offenders = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("insert", "append", "extend")
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "path"
                and isinstance(node.value.value, ast.Name)
                and node.value.value.id == "sys"
            ):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert offenders == []


def test_only_the_shim_reaches_into_the_sdk_runtime() -> None:
    """``pulumi.runtime`` internals in one module; the analyzer's protocol stubs (``proto``) are public."""
    users = sorted(
        str(path.relative_to(PROJECT_ROOT))
        for path in python_files()
        if any(
            name.startswith("pulumi.runtime") and not name.startswith("pulumi.runtime.proto")
            for name in imported_modules(path)
        )
    )
    # This test, and the one pinning the stack walk the shim switches off, read what they pin.
    assert users == ["infra/sdk.py", "tests/test_layers.py", "tests/test_offline_runtime.py"]


def test_the_shim_knows_every_field_of_the_pinned_register_resource_request() -> None:
    """A field the SDK adds (an option the shim would silently drop) fails here first."""
    fields = {field.name for field in resource_pb2.RegisterResourceRequest.DESCRIPTOR.fields}
    assert fields == sdk.REGISTER_RESOURCE_FIELDS


def test_the_mock_interface_the_shim_builds_on_is_unchanged() -> None:
    assert list(inspect.signature(mocks.MockResourceArgs.__init__).parameters) == [
        "self",
        "typ",
        "name",
        "inputs",
        "provider",
        "resource_id",
        "custom",
        "transforms",
    ]
    assert list(inspect.signature(mocks.Mocks.new_resource).parameters) == ["self", "args"]
    assert list(inspect.signature(mocks.MockMonitor.RegisterResource).parameters) == ["self", "request"]
    assert list(inspect.signature(mocks.set_mocks).parameters) == [
        "mocks",
        "project",
        "stack",
        "preview",
        "logger",
        "monitor",
        "organization",
    ]
    # The shim picks the inputs up in new_resource, which RegisterResource must call with them.
    assert "self.mocks.new_resource(" in inspect.getsource(mocks.MockMonitor.RegisterResource)


def test_the_recording_monitor_keeps_options_the_engine_would_see() -> None:
    import pulumi
    import pulumi_kubernetes as k8s

    class Echo(sdk.Mocks):
        def new_resource(self, args: sdk.MockResourceArgs) -> tuple[str, dict[str, object]]:
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: sdk.MockCallArgs) -> tuple[dict[str, object], None]:
            return {}, None

    monitor = sdk.RecordingMonitor(Echo())

    def program() -> None:
        first = k8s.core.v1.ConfigMap("first", data={"a": "1"})
        k8s.core.v1.ConfigMap(
            "second",
            data={"b": "2"},
            opts=pulumi.ResourceOptions(
                depends_on=[first],
                protect=True,
                retain_on_delete=True,
                custom_timeouts=pulumi.CustomTimeouts(create="20m"),
            ),
        )

    sdk.run_function(program, monitor.mocks, project="p", stack="s", monitor=monitor)
    recorded = monitor.recorded
    second = next(r for r in recorded if r.name == "second")
    assert second.inputs["data"] == {"b": "2"}
    assert second.options["protect"] is True
    assert second.options["retainOnDelete"] is True
    assert second.options["customTimeouts"] == {"create": "20m"}
    assert [urn.rsplit("::", 1)[-1] for urn in second.options["dependsOn"]] == ["first"]


BLOCK_THE_PROGRAM = textwrap.dedent(
    """\
    import importlib.abc, sys

    class BlockTheProgram(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"model", "components", "infra"}:
                raise ImportError(f"the policy pack imported the program's {name!r}")
            return None

    sys.meta_path.insert(0, BlockTheProgram())
    """
)


def test_the_pack_starts_and_judges_from_a_copy_of_its_folder_alone(tmp_path: Path) -> None:
    """What `pulumi policy publish` ships: only policies/, with the program's packages out of reach."""
    copy = tmp_path / "pack"
    shutil.copytree(PROJECT_ROOT / "policies", copy, ignore=shutil.ignore_patterns("__pycache__"))
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_THE_PROGRAM)
    stack = StackFile(path=Path("stacks/Pulumi.test.yaml"), stack="test", values={}, secret_keys=frozenset())
    resources = fx.compliant_stack()
    resources[0].inputs.setdefault("spec", {})
    config_path = policy_config_path("prod")
    with policy_pack(stack, pack_dir=copy, extra_env={"PYTHONPATH": str(blocker)}) as process:
        violations = evaluate(process, stack, resources, load_policy_config(config_path), str(config_path))
        assert "ai_platform_policies" not in process.stderr_tail()
    assert violations == []
