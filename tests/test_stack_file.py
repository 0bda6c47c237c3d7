"""Reading stack files: strict like Pulumi's own YAML reader, and hostile input never crashes.

Hostile files are read in a child process with a memory cap, so that a
regression (a segfault, a runaway allocation) fails one test instead of
taking pytest down.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.offline.stack_file import read_stack_file
from infra.offline.stack_yaml import MAX_BYTES, StackYamlError, allowed_alias_ratio, load_stack_yaml
from model.config import PlatformConfig
from model.stack_config import ConfigError, parse_platform_config
from tests.test_cli import run_cli

_READ = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    resource.setrlimit(resource.RLIMIT_AS, (768 * 2**20, 768 * 2**20))
    from infra.offline.stack_file import read_stack_file
    from model.stack_config import ConfigError, parse_platform_config
    try:
        stack = read_stack_file(Path(sys.argv[1]))
        parse_platform_config(stack.values, stack.display_path, stack.secret_keys)
    except ConfigError as error:
        print(error.render())
        sys.exit(2)
    """
)


def read_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    """Read and validate a stack file in a child process with 768 MiB of address space and 20 seconds."""
    return subprocess.run(
        [sys.executable, "-c", _READ, str(path)], capture_output=True, text=True, check=False, timeout=20
    )


def stack_text(tmp_path: Path, body: str, name: str = "hostile") -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def quantity_stack(cpu: str) -> str:
    service = f"    - {{name: a, image: {{ref: 'r/a:1'}}, resources: {{cpu: '{cpu}', memory: 1Gi}}}}\n"
    return VALID + "  ai-platform:services:\n" + service


VALID = "config:\n  ai-platform:environment: dev\n  ai-platform:kubernetesVersion: '1.31'\n"
ALIAS_BOMB = "config:\n  ai-platform:services: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  ai-platform:k{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)

HOSTILE: list[tuple[str, str, str]] = [
    # (case, file content, expected fragment of the one problem line)
    ("900 deep", VALID + "  ai-platform:services: " + "[" * 900 + "]" * 900 + "\n", "nested more than 64 levels"),
    ("100,000 deep", VALID + "  ai-platform:services: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than"),
    (
        "3,000 deep block mappings",
        VALID + "  ai-platform:cluster:\n" + "".join(f"{' ' * (4 + i)}k{i}:\n" for i in range(3000)),
        "nested more than",
    ),
    ("integer past 4300 digits", VALID + "  ai-platform:services: " + "9" * 5000 + "\n", "integer beyond 64 bits"),
    ("hex integer", VALID + "  ai-platform:pricing: {hoursPerMonth: 0x" + "f" * 9000 + "}\n", "beyond 64 bits"),
    ("timestamp value", VALID + "  ai-platform:environment2: 2024-01-01\n", "YAML timestamp; quote it"),
    ("timestamp key", VALID + "  ai-platform:pricing:\n    gpuHour: {2024-01-01: 1}\n", "YAML timestamp"),
    ("binary", VALID + "  ai-platform:registryPassword: !!binary aGVsbG8=\n", "!!binary"),
    ("set", VALID + "  ai-platform:services: !!set {a, b}\n", "!!set"),
    ("python tag", VALID + "  ai-platform:services: !!python/object:os.system x\n", "YAML tag"),
    ("alias bomb", ALIAS_BOMB, "excessive aliasing"),
    ("self-reference", VALID + "  ai-platform:services: &s [*s]\n", "contains itself"),
    ("list as key", VALID + "  ? [a]\n  : b\n", "mapping keys must be plain values"),
    ("cpu 1e1000000", quantity_stack("1e1000000"), "out of range for a Kubernetes quantity"),
    ("cpu 1e-1000000000", quantity_stack("1e-1000000000"), "out of range"),
    ("cpu with a huge exponent", quantity_stack("1e" + "9" * 40), "out of range"),
    ("cpu of 5000 digits", quantity_stack("1" * 5000), "too long for a Kubernetes quantity"),
]


@pytest.mark.parametrize(("content", "fragment"), [pytest.param(c, f, id=case) for case, c, f in HOSTILE])
def test_hostile_input_is_one_problem_line_in_bounded_time_and_memory(
    tmp_path: Path, content: str, fragment: str
) -> None:
    path = stack_text(tmp_path, content)
    result = read_in_child(path)

    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr[-2000:])
    lines = result.stdout.splitlines()
    assert lines[0] == "invalid stack configuration (1 problem):", lines
    [problem] = lines[1:]
    assert problem.startswith(f"{path}: ")
    assert fragment in problem
    assert len(problem) < 400


@pytest.mark.parametrize(
    "case", ["alias bomb", "100,000 deep", "integer past 4300 digits", "timestamp key", "cpu 1e1000000"]
)
def test_the_offline_tool_refuses_hostile_files_with_exit_2_and_one_line(tmp_path: Path, case: str) -> None:
    [(content, fragment)] = [(c, f) for name, c, f in HOSTILE if name == case]
    path = stack_text(tmp_path, content)
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    [problem] = result.stderr.splitlines()[1:]
    assert problem.startswith(f"{path}: ai-platform:")
    assert fragment in problem


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = stack_text(tmp_path, VALID)
    with path.open("r+b") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: no disk used
    with pytest.raises(ConfigError) as raised:
        read_stack_file(path)
    assert raised.value.problems == ["the file is larger than 16 MiB"]


def test_alias_ratio_matches_yaml_v3() -> None:
    """gopkg.in/yaml.v3 decode.go allowedAliasRatio: 99 % up to 400,000 decodes, 10 % from 4,000,000."""
    assert allowed_alias_ratio(1_000) == 0.99
    assert allowed_alias_ratio(400_000) == 0.99
    assert allowed_alias_ratio(2_200_000) == pytest.approx(0.545)
    assert allowed_alias_ratio(4_000_000) == 0.10
    assert allowed_alias_ratio(10**9) == 0.10


def test_modest_aliasing_is_allowed_and_merge_keys_work() -> None:
    text = textwrap.dedent(
        """
        defaults: &defaults {cpu: 500m, memory: 1Gi}
        a: {<<: *defaults, memory: 2Gi}
        b: [*defaults, *defaults]
        """
    )
    document = load_stack_yaml(text)
    assert document["a"] == {"cpu": "500m", "memory": "2Gi"}
    assert document["b"] == [{"cpu": "500m", "memory": "1Gi"}] * 2


def test_ten_thousand_aliases_of_a_scalar_are_refused_past_the_ratio() -> None:
    # 1 scalar anchored, then 2,000 aliases of a 500-node list: 1,000,000 aliased decodes of ~1,500 real ones.
    items = ", ".join(["x"] * 499)
    text = f"a: &a [{items}]\nb: [{', '.join(['*a'] * 2000)}]\n"
    with pytest.raises(StackYamlError, match="excessive aliasing") as raised:
        load_stack_yaml(text)
    assert raised.value.where.startswith("b[")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", "yes"),
        ("on", "on"),
        ("n", "n"),
        ("True", True),
        ("FALSE", False),
        ("~", None),
        ("0o17", 15),
        ("017", 15),
        ("0x1F", 31),
        ("0b101", 5),
        ("1_000", 1000),
        ("08", 8.0),
        ("1e3", 1000.0),
        ("1.30", 1.3),
        (".5", 0.5),
        ("1:30", "1:30"),
        ("1e400", "1e400"),
        ("=", "="),
        ("18446744073709551615", 2**64 - 1),
    ],
)
def test_plain_scalars_read_as_pulumis_yaml_reader_reads_them(text: str, value: object) -> None:
    """gopkg.in/yaml.v3 resolve.go (YAML 1.2 core schema), not PyYAML's YAML 1.1: `FLAG: yes` stays text."""
    [read] = load_stack_yaml(f"a: [{text}]")["a"]
    assert read == value
    assert type(read) is type(value)


def test_duplicate_keys_are_refused_with_both_lines(tmp_path: Path) -> None:
    path = stack_text(
        tmp_path,
        VALID + "  ai-platform:services:\n" + "    - name: a\n" + "      replicas: 1\n" + "      replicas: 3\n",
    )
    with pytest.raises(ConfigError) as raised:
        read_stack_file(path)
    [problem] = raised.value.problems
    assert problem == "ai-platform:services[0].replicas: mapping key 'replicas' already defined at line 6 (line 7)"


def test_duplicate_top_level_keys_are_refused(tmp_path: Path) -> None:
    path = stack_text(tmp_path, VALID + "  ai-platform:environment: prod\n")
    with pytest.raises(ConfigError, match=r"ai-platform:environment: mapping key .* already defined at line 2"):
        read_stack_file(path)


def test_unquoted_kubernetes_version_says_to_quote_it(tmp_path: Path) -> None:
    path = stack_text(tmp_path, "config:\n  ai-platform:environment: dev\n  ai-platform:kubernetesVersion: 1.30\n")
    with pytest.raises(ConfigError) as raised:
        read_stack_file(path)
    [problem] = raised.value.problems
    assert problem == (
        "ai-platform:kubernetesVersion: 1.30 is the YAML number 1.3, but Pulumi passes the program the text 1.30; "
        'quote it ("1.30") so that every reader agrees'
    )


def test_top_level_scalars_reach_the_program_as_written(tmp_path: Path) -> None:
    """Pulumi unmarshals a top-level config value as a string first: the program sees the text."""
    path = stack_text(
        tmp_path,
        "config:\n  ai-platform:environment: dev\n  ai-platform:kubernetesVersion: '1.31'\n"
        "  kubernetes:enableServerSideApply: True\n  kubernetes:context: 1.5\n  docker:host:\n",
    )
    values = read_stack_file(path).values
    assert values["kubernetes:enableServerSideApply"] == "True"
    assert values["kubernetes:context"] == "1.5"
    assert values["docker:host"] == ""
    assert values["ai-platform:kubernetesVersion"] == "1.31"


def test_a_version_given_as_a_number_is_refused() -> None:
    with pytest.raises(ValidationError, match="is a YAML number, not a version; quote it"):
        PlatformConfig.model_validate({"environment": "dev", "kubernetesVersion": 1.3})


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("aiplatform:services", "unknown config namespace 'aiplatform' (did you mean 'ai-platform:services'?)"),
        ("ai_platform:environment", "did you mean 'ai-platform:environment'?"),
        ("kubernets:context", "did you mean 'kubernetes:context'?"),
        ("zzz:thing", "known namespaces: ai-platform, pulumi, kubernetes, docker"),
    ],
)
def test_keys_of_unknown_namespaces_are_refused_with_a_suggestion(key: str, fragment: str) -> None:
    values = {"ai-platform:environment": "dev", "ai-platform:kubernetesVersion": "1.31", key: "[]"}
    with pytest.raises(ConfigError) as raised:
        parse_platform_config(values, "stacks/Pulumi.dev.yaml")
    [line] = raised.value.render().splitlines()[1:]
    assert line.startswith(f"stacks/Pulumi.dev.yaml: {key}: unknown config namespace")
    assert fragment in line


def test_provider_and_engine_namespaces_are_accepted() -> None:
    values = {
        "ai-platform:environment": "dev",
        "ai-platform:kubernetesVersion": "1.31",
        "kubernetes:context": "dev",
        "pulumi:tags": '{"team": "ml"}',
        "docker:host": "unix:///var/run/docker.sock",
    }
    assert parse_platform_config(values, "s").environment == "dev"


def test_structured_values_past_pythons_limits_are_config_errors() -> None:
    values = {
        "ai-platform:environment": "dev",
        "ai-platform:kubernetesVersion": "1.31",
        "ai-platform:pricing": '{"vcpuHour": ' + "9" * 5000 + "}",
        "ai-platform:services": "[" * 100_000 + "]" * 100_000,
    }
    with pytest.raises(ConfigError) as raised:
        parse_platform_config(values, "s")
    assert [problem.split(":")[1] for problem in raised.value.problems] == ["pricing", "services"]


def test_committed_stacks_read_the_same_as_pyyaml(tmp_path: Path) -> None:
    import yaml

    from infra.offline.check import stack_path

    for name in ("dev", "staging", "prod"):
        text = stack_path(name).read_text()
        assert load_stack_yaml(text) == yaml.safe_load(text)
