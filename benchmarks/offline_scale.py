"""The offline check at fleet scale, next to checkov and the Pulumi SDK's own floor.

    .venv/bin/python benchmarks/offline_scale.py [--sizes 1 10 100 200 1000] [--checkov-max 200]
                                                 [--compare-max 200]

For each size it writes a prod stack with that many AI services (copies of
prod's text-classifier with distinct names) and, in a fresh process per size:

- ``cli s``: ``python -m infra.offline check --no-cache --json`` as CI runs it,
  cold (interpreter start and imports included) and without ``--out``, next
  to ``checkov`` on the same rendered manifests (sizes up to
  ``--checkov-max``), each the median of ``--repeats`` runs taken in
  alternation so that both see the same load: ``ratio`` is ``cli s / checkov
  s``; ``cli --out s`` is one cold run that also writes the render;
- ``check s``: the check as a library call, with its own peak memory (``tool
  MiB``) and the policy pack's (``pack MiB``, its own process);
- ``render``, ``schema``, ``policy``: each phase alone;
- ``re-check s``: the same command answered from the result cache;
- the SDK floor: as many bare Deployments registered under the same mock
  runtime.

Up to ``--compare-max`` services it also runs the command with
``AI_PLATFORM_NO_SPEEDUPS=1`` (the SDK's own stack walk, serialization,
URNs and output translation, default GC, the pack's servicer as
pulumi-policy wrote it, ``jsonschema`` for every manifest) and from the
cache, and asserts that
manifests, ``resources.json`` and the findings are byte for byte the same.

Targets: a cold 200-service ``check`` no slower than checkov (ratio <= 1.0);
1000 services under 1.5 GiB for the tool and 2 GiB with the pack; a re-check
of an unchanged stack under 1 s.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def scaled_stack(services: int, directory: Path) -> Path:
    """stacks/Pulumi.prod.yaml with ``services`` copies of text-classifier."""
    document = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    config = document["config"]
    template = next(s for s in config["ai-platform:services"] if s["name"] == "text-classifier")
    copies = []
    for index in range(services):
        service = copy.deepcopy(template)
        service["name"] = f"svc-{index:04d}"
        service["ingress"] = {"host": f"svc-{index:04d}.example.com"}
        service.pop("secretEnv", None)
        copies.append(service)
    config["ai-platform:services"] = copies
    config.pop("ai-platform:serviceSecrets", None)
    path = directory / f"Pulumi.scale{services}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def sdk_floor(count: int) -> float:
    """Seconds to register ``count`` bare Deployments under the SDK's own mock runtime."""
    import pulumi
    import pulumi_kubernetes as k8s

    from infra import sdk

    class Echo(sdk.Mocks):
        def new_resource(self, args: sdk.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: sdk.MockCallArgs) -> tuple[dict[str, Any], None]:
            return {}, None

    def program() -> None:
        for index in range(count):
            labels = {"app": f"d{index}"}
            k8s.apps.v1.Deployment(
                f"d{index}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"d{index}", namespace="floor"),
                spec=k8s.apps.v1.DeploymentSpecArgs(
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                        spec=k8s.core.v1.PodSpecArgs(containers=[k8s.core.v1.ContainerArgs(name="c", image="i:1")]),
                    ),
                ),
            )
        pulumi.export("count", count)

    started = time.perf_counter()
    sdk.run_function(program, Echo(), project="floor", stack="floor")
    return time.perf_counter() - started


def cli(
    stack_file: Path, policy_config: Path, out: Path | None, *extra: str, env: dict[str, str] | None = None
) -> float:
    """Seconds for ``python -m infra.offline check`` as a user runs it (exit 0 or 1 accepted)."""
    started = time.perf_counter()
    writes = ["--out", str(out)] if out is not None else []
    result = subprocess.run(
        [sys.executable, "-m", "infra.offline", "check", "--config", str(stack_file), "--policy-config",
         str(policy_config), "--json", *writes, *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
        env={**os.environ, **(env or {})},
        cwd=PROJECT_ROOT,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"check failed ({result.returncode}):\n{result.stderr}")
    if out is not None:
        (out / "report.json").write_text(result.stdout)
    return seconds


def tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def measure(services: int, directory: Path, compare: bool) -> dict[str, Any]:
    """One size, in this process: the CLI cold, the check as a library, each phase alone, then the floor."""
    from infra.offline.analyzer import evaluate
    from infra.offline.check import check_stack, render
    from infra.offline.pack_process import policy_pack
    from infra.offline.policy_config import load_policy_config, policy_config_path
    from infra.offline.schema import validate_manifest

    stack_file = scaled_stack(services, directory)
    # prod's policies, with a budget that fits a thousand copies of the service.
    policy_config = json.loads(policy_config_path("prod").read_text())
    policy_config["monthly-budget"]["budget"] = 10_000_000
    config_path = directory / "policy.json"
    config_path.write_text(json.dumps(policy_config))
    started = time.perf_counter()
    report = check_stack(stack_file, config_path)
    check_seconds = time.perf_counter() - started
    # Peak memory of the check itself, and of the pack (its own process, the only child so far: the CLI runs
    # come after, or their peaks would count as the pack's).
    tool_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pack_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    problems = len(report.schema_errors) + sum(v.blocks for v in report.violations)
    del report

    runs = directory / f"runs{services}"
    cli_seconds = cli(stack_file, config_path, runs / "cold", "--no-cache")
    cache = {"AI_PLATFORM_CACHE_DIR": str(runs / "cache"), "AI_PLATFORM_NO_CACHE": ""}
    cli(stack_file, config_path, runs / "first", env=cache)
    recheck_seconds = cli(stack_file, config_path, runs / "cached", env=cache)
    identical = None
    if compare:
        cli(stack_file, config_path, runs / "plain", "--no-cache", env={"AI_PLATFORM_NO_SPEEDUPS": "1"})
        reference = tree(runs / "plain")
        identical = all(tree(runs / name) == reference for name in ("cold", "first", "cached"))
        assert identical, f"{services} services: a speed-up or the cache changed the render or the findings"

    started = time.perf_counter()
    rendered = render(stack_file)
    render_seconds = time.perf_counter() - started

    started = time.perf_counter()
    errors = [e for m in rendered.manifests for e in validate_manifest(m.body, "1.31", m.file_name)]
    schema_seconds = time.perf_counter() - started

    started = time.perf_counter()
    with policy_pack(rendered.stack) as pack:
        violations = evaluate(pack, rendered.stack, rendered.resources, load_policy_config(config_path), "prod")
    policy_seconds = time.perf_counter() - started

    resources = len(rendered.resources)
    floor_seconds = sdk_floor(resources)
    return {
        "services": services,
        "resources": resources,
        "manifests": len(rendered.manifests),
        "cli_out": cli_seconds,
        "stack_file": str(stack_file),
        "policy_config": str(config_path),
        "recheck": recheck_seconds,
        "identical": identical,
        "render": render_seconds,
        "schema": schema_seconds,
        "policy": policy_seconds,
        "check": check_seconds,
        "floor": floor_seconds,
        "tool_mib": tool_mib,
        "pack_mib": pack_mib,
        "problems": problems + len(errors) + sum(v.blocks for v in violations),
    }


def checkov_seconds(manifests: Path) -> float | None:
    binary = PROJECT_ROOT / ".tools-venv" / "bin" / "checkov"
    found = str(binary) if binary.exists() else shutil.which("checkov")
    if found is None:
        return None
    started = time.perf_counter()
    subprocess.run(
        [found, "-d", str(manifests), "--framework", "kubernetes", "--skip-download", "--quiet", "-o", "json"],
        capture_output=True,
        check=False,
        timeout=3600,
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100, 200, 1000])
    parser.add_argument("--checkov-max", type=int, default=200, help="time checkov up to this many services")
    parser.add_argument(
        "--compare-max", type=int, default=200, help="assert identical results without speed-ups up to this size"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of the CLI and of checkov, in alternation")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--compare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.dir, args.compare)))
        return 0

    rows = []
    with tempfile.TemporaryDirectory(prefix="offline-scale-") as scratch:
        for size in args.sizes:
            command = [sys.executable, __file__, "--one", str(size), "--dir", scratch]
            result = subprocess.run(
                command + (["--compare"] if size <= args.compare_max else []),
                capture_output=True,
                text=True,
                check=False,
                timeout=7200,
            )
            if result.returncode != 0:
                raise SystemExit(f"{size} services: {result.stderr[-4000:]}")
            row = json.loads(result.stdout.strip().splitlines()[-1])
            manifests = Path(scratch) / f"runs{size}" / "cold" / "manifests"
            stack_file, policy_config = Path(row["stack_file"]), Path(row["policy_config"])
            clis, checkovs = [], []
            for _ in range(args.repeats if size <= args.checkov_max else 1):
                clis.append(cli(stack_file, policy_config, None, "--no-cache"))
                if size <= args.checkov_max:
                    checkovs.append(checkov_seconds(manifests))
            row["cli"] = statistics.median(clis)
            timed = [seconds for seconds in checkovs if seconds is not None]
            row["checkov"] = statistics.median(timed) if timed else None
            rows.append(row)

    print(
        f"offline check at scale on {platform.machine()} ({os.cpu_count()} cores), Python "
        f"{platform.python_version()}; every stack checked clean: {all(r['problems'] == 0 for r in rows)}; "
        f"identical without speed-ups and from the cache: "
        f"{all(r['identical'] for r in rows if r['identical'] is not None)} "
        f"(sizes {[r['services'] for r in rows if r['identical'] is not None]})\n"
    )
    print(
        "| services | resources | cli s | checkov s | ratio | cli --out s | re-check s | check s | render s "
        "| schema s | policy s | SDK floor s | tool MiB | pack MiB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        checkov = f"{row['checkov']:.1f}" if row["checkov"] is not None else "—"
        ratio = f"{row['cli'] / row['checkov']:.2f}" if row["checkov"] else "—"
        print(
            f"| {row['services']} | {row['resources']} | {row['cli']:.2f} | {checkov} | {ratio} | "
            f"{row['cli_out']:.2f} | {row['recheck']:.2f} | {row['check']:.2f} | {row['render']:.2f} | "
            f"{row['schema']:.2f} | {row['policy']:.2f} | {row['floor']:.2f} | {row['tool_mib']:.0f} | "
            f"{row['pack_mib']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
