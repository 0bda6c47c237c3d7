"""`pulumi install` (and a first `pulumi up`) builds a virtualenv the program runs in.

What Pulumi's Python language host does (pulumi/pulumi, read at the version
the project targets):

- ``pkg/engine/project.go`` (``getPwdMain``): with ``main: infra/`` the
  program directory is ``<root>/infra``; ``pkg/cmd/pulumi/install/install.go``
  passes it as ``ProgramInfo.ProgramDirectory``.
- ``sdk/python/toolchain/pip.go``: the virtualenv option is resolved against
  the project root (``resolveVirtualEnvironmentPath``); ``InstallDependencies``
  runs ``python -m venv <root>/.venv``, then, with the *program* directory as
  working directory, ``python -m pip install --upgrade pip setuptools wheel``
  and ``python -m pip install -r requirements.txt`` if ``requirements.txt``
  exists there (no file: an empty virtualenv and no error).
- ``sdk/python/cmd/pulumi-language-python/main.go``: ``GetRequiredPackages``
  calls ``EnsureVenv``, so ``pulumi preview``/``up`` run the same install when
  the virtualenv is missing; the program then runs via ``runpy.run_path`` on
  the program directory (``pulumi-language-python-exec``), which puts
  ``infra/`` first on ``sys.path``.

The integration test below runs those two pip commands into a fresh
virtualenv, from ``infra/``, and imports the program's packages from there.
"""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest
import yaml

from infra.offline.runtime import PROGRAM_DIR, PROJECT_ROOT

REQUIREMENTS = PROGRAM_DIR / "requirements.txt"


def requirement_lines(path: Path) -> list[str]:
    return [line for raw in path.read_text().splitlines() if (line := raw.split("#", 1)[0].strip())]


def test_the_language_host_finds_requirements_in_the_program_folder() -> None:
    project = yaml.safe_load((PROJECT_ROOT / "Pulumi.yaml").read_text())
    assert project["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv"}
    assert (PROJECT_ROOT / project["main"]).resolve() == PROGRAM_DIR
    assert REQUIREMENTS.is_file()


def test_paths_resolve_from_the_program_folder_where_pip_runs() -> None:
    lines = requirement_lines(REQUIREMENTS)
    assert lines == ["--no-require-hashes", "-r ../requirements.txt", "-r ../policies/requirements.txt", "-e .."]
    assert (PROGRAM_DIR / "../requirements.txt").resolve() == PROJECT_ROOT / "requirements.txt"
    assert (PROGRAM_DIR / "../policies/requirements.txt").resolve() == PROJECT_ROOT / "policies" / "requirements.txt"
    assert (PROGRAM_DIR / ".." / "pyproject.toml").resolve() == PROJECT_ROOT / "pyproject.toml"


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONHOME")}
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.integration
def test_pulumi_install_gives_a_virtualenv_the_program_runs_in(tmp_path: Path) -> None:
    """The language host's own pip commands, from infra/, into a fresh virtualenv (needs PyPI)."""
    environment = tmp_path / ".venv"
    venv.create(environment, with_pip=True)
    python = str(environment / "bin" / "python")
    for command in (
        [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip", "setuptools", "wheel"],
        [python, "-m", "pip", "install", "--quiet", "-r", "requirements.txt"],
    ):
        result = _run(command, cwd=PROGRAM_DIR)
        assert result.returncode == 0, result.stdout + result.stderr[-4000:]

    # As pulumi-language-python-exec runs it: infra/ first on sys.path (here: `-c` from infra/).
    imports = "import pulumi_kubernetes, pulumi_docker, components.platform, model.stack_config, infra.sdk"
    # The policy pack runs in the same virtualenv (policies/PulumiPolicy.yaml).
    imports += ", pulumi_policy, ai_platform_policies.pack"
    result = _run([python, "-c", f"{imports}; print(components.platform.__file__)"], cwd=PROGRAM_DIR)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == PROJECT_ROOT / "components" / "platform.py"

    check = _run([python, "-m", "pip", "check"], cwd=PROGRAM_DIR)
    assert check.returncode == 0, check.stdout
    # Only the program's set: no development tools came along.
    missing = _run([python, "-c", "import pytest"], cwd=PROGRAM_DIR)
    assert missing.returncode != 0


@pytest.mark.integration
def test_hashes_are_still_checked_next_to_the_editable_project(tmp_path: Path) -> None:
    """`--no-require-hashes` lets the project in unhashed; a hashed pin with a wrong hash still fails."""
    lock = read_one_pin(PROJECT_ROOT / "requirements.txt", "idna")
    bad = tmp_path / "lock.txt"
    bad.write_text(_corrupt(lock))
    program = tmp_path / "infra"
    program.mkdir()
    (program / "requirements.txt").write_text("--no-require-hashes\n-r ../lock.txt\n-e ..\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "probe"\nversion = "0"\n')
    environment = tmp_path / ".venv"
    venv.create(environment, with_pip=True)
    python = str(environment / "bin" / "python")
    upgrade = _run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], cwd=program)
    assert upgrade.returncode == 0, upgrade.stderr
    result = _run([python, "-m", "pip", "install", "--no-cache-dir", "-r", "requirements.txt"], cwd=program)
    assert result.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in result.stderr


def read_one_pin(lock: Path, name: str) -> str:
    """The lines of one pinned package (its version and hashes) from a pip-compile lock."""
    lines = lock.read_text().splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(f"{name}=="))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.strip().startswith("--hash="):
            break
        block.append(line)
    return "\n".join(block).rstrip("\\ ") + "\n"


def _corrupt(pin: str) -> str:
    """Every hash of the pin replaced by one no file has."""
    return "\n".join(
        line.split("--hash=")[0] + "--hash=sha256:" + "0" * 64 + (" \\" if line.rstrip().endswith("\\") else "")
        if "--hash=" in line
        else line
        for line in pin.splitlines()
    )
