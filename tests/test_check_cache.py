"""The whole-result cache of ``check``: every input that can change the answer changes the key; a hit answers the
same, byte for byte, without running anything; ``--no-cache`` bypasses it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from infra.offline import check_cache, cli
from infra.offline.check import check_stack

POLICY = {"all": "mandatory"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project tree with a file in every keyed place, and a stack and policy config beside it."""
    root = tmp_path / "project"
    for name in check_cache.KEYED_PATHS:
        if "." in name:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(f"{name}\n")
        else:
            (root / name / "sub").mkdir(parents=True)
            (root / name / "sub" / "module.py").write_text(f"# {name}\n")
    (tmp_path / "Pulumi.test.yaml").write_text("config: {}\n")
    (tmp_path / "policy.json").write_text(json.dumps(POLICY))
    return root


def _key(project: Path, environ: dict[str, str] | None = None) -> str:
    return check_cache.key(
        project.parent / "Pulumi.test.yaml",
        project.parent / "policy.json",
        root=project,
        environ={"HOME": "/root", "PULUMI_BACKEND_URL": "file://"} if environ is None else environ,
    )


@pytest.mark.parametrize("keyed", check_cache.KEYED_PATHS)
def test_a_change_to_any_keyed_project_file_changes_the_key(project: Path, keyed: str) -> None:
    before = _key(project)
    path = project / keyed if "." in keyed else project / keyed / "sub" / "module.py"
    path.write_text(path.read_text() + "changed\n")
    assert _key(project) != before


def test_a_new_file_changes_the_key_but_bytecode_and_tool_caches_do_not(project: Path) -> None:
    before = _key(project)
    (project / "policies" / "__pycache__").mkdir()
    (project / "policies" / "__pycache__" / "rule.cpython-311.pyc").write_bytes(b"\0")
    (project / "infra" / "sub" / "x.pyc").write_bytes(b"\0")
    (project / "tests").mkdir()
    (project / "tests" / "test_x.py").write_text("")
    assert _key(project) == before
    (project / "services" / "sub" / "Dockerfile").write_text("FROM scratch\n")
    assert _key(project) != before


def test_the_stack_file_and_the_policy_config_are_keyed(project: Path) -> None:
    before = _key(project)
    stack = project.parent / "Pulumi.test.yaml"
    stack.write_text("config: {ai-platform:environment: dev}\n")
    assert _key(project) != before
    stack.write_text("config: {}\n")
    assert _key(project) == before
    (project.parent / "policy.json").write_text(json.dumps({"all": "advisory"}))
    assert _key(project) != before


def test_pulumi_environment_variables_are_keyed_and_others_are_not(project: Path) -> None:
    base = {"HOME": "/root", "PULUMI_BACKEND_URL": "file://"}
    before = _key(project, base)
    assert _key(project, {**base, "HOME": "/elsewhere", "TERM": "xterm"}) == before
    assert _key(project, {**base, "PULUMI_CONFIG": '{"ai-platform:x": "1"}'}) != before
    assert _key(project, {**base, "PULUMI_BACKEND_URL": "s3://bucket"}) != before


def test_package_versions_are_keyed(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _key(project)
    real = metadata.distributions

    def upgraded() -> Iterator[Any]:
        for distribution in real():
            if distribution.metadata["Name"].lower() == "pulumi":
                yield SimpleNamespace(metadata={"Name": "pulumi"}, version="999.0.0")
            else:
                yield distribution

    monkeypatch.setattr(metadata, "distributions", upgraded)
    assert _key(project) != before


def test_a_hit_answers_byte_for_byte_without_running_and_no_cache_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AI_PLATFORM_NO_CACHE", "")
    monkeypatch.setenv("AI_PLATFORM_CACHE_DIR", str(tmp_path / "cache"))
    runs: list[Path] = []
    real = check_stack

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr("infra.offline.cli.check_stack", counted)
    outputs = []
    for flags, out in ((["--json"], "a"), (["--json"], "b"), ([], "c"), ([], "d"), (["--json", "--no-cache"], "e")):
        code = cli.main(["check", "--stack", "prod", "--out", str(tmp_path / out), *flags])
        outputs.append((code, capsys.readouterr().out))
    assert len(runs) == 2  # the first run, and the one with --no-cache
    assert outputs[0] == outputs[1] == outputs[4]
    assert outputs[2] == outputs[3]
    assert "mandatory violations" in outputs[2][1]
    for out in "bcde":
        assert _tree(tmp_path / out) == _tree(tmp_path / "a")
    assert len(list((tmp_path / "cache" / "check").glob("*.json"))) == 1


def _tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}
