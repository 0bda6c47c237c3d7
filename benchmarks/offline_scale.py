"""The offline check at fleet scale, next to the Pulumi SDK's own floor.

    .venv/bin/python benchmarks/offline_scale.py [--sizes 1 10 100 1000] [--checkov-max 200]

For each size it writes a prod stack with that many AI services (copies of
prod's text-classifier with distinct names), then, in a fresh process per
size so that peak memory is that size's own, times ``render`` (the program
under the mock runtime plus manifests), schema validation and the policy
pack separately, and the SDK floor: as many bare Deployments registered
under the same mock runtime. ``check s`` is the check as the CLI runs it (the
policy pack judges resources while the program declares them, on the other
core); the render, schema and policy columns time each phase alone. It
prints one table. checkov, when installed, is timed on the same manifests
(sizes up to ``--checkov-max``).

Targets (issue 8): per-resource ``check`` cost at most 1.5x the floor; a
200-service check faster than checkov; 1000 services in under 2 GiB.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import shutil
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


def measure(services: int, directory: Path) -> dict[str, Any]:
    """One size, in this process: the check as the CLI runs it, then each phase alone, then the floor."""
    from infra.offline.analyzer import evaluate
    from infra.offline.check import check_stack, render
    from infra.offline.manifests import write_render
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
    # Peak memory of the check itself (the pack runs in its own, smaller process).
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    problems = len(report.schema_errors) + sum(v.blocks for v in report.violations)
    del report

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

    write_render(directory / f"render{services}", rendered.resources, rendered.manifests)
    resources = len(rendered.resources)
    floor_seconds = sdk_floor(resources)
    return {
        "services": services,
        "resources": resources,
        "manifests": len(rendered.manifests),
        "render": render_seconds,
        "schema": schema_seconds,
        "policy": policy_seconds,
        "check": check_seconds,
        "floor": floor_seconds,
        "peak_mib": peak_mib,
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
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.dir)))
        return 0

    rows = []
    with tempfile.TemporaryDirectory(prefix="offline-scale-") as scratch:
        for size in args.sizes:
            result = subprocess.run(
                [sys.executable, __file__, "--one", str(size), "--dir", scratch],
                capture_output=True,
                text=True,
                check=True,
                timeout=3600,
            )
            row = json.loads(result.stdout.strip().splitlines()[-1])
            manifests = Path(scratch) / f"render{size}" / "manifests"
            row["checkov"] = checkov_seconds(manifests) if size <= args.checkov_max else None
            rows.append(row)

    print(
        f"offline check at scale on {platform.machine()} ({os.cpu_count()} cores), Python "
        f"{platform.python_version()}; every stack checked clean: {all(r['problems'] == 0 for r in rows)}\n"
    )
    print(
        "| services | resources | render s | schema s | policy s | check s | check ms/resource "
        "| SDK floor ms/resource | ratio | peak MiB | checkov s |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        check = row["check"]
        per_resource = check / row["resources"] * 1000
        floor = row["floor"] / row["resources"] * 1000
        checkov = f"{row['checkov']:.1f}" if row["checkov"] is not None else "—"
        print(
            f"| {row['services']} | {row['resources']} | {row['render']:.2f} | {row['schema']:.2f} | "
            f"{row['policy']:.2f} | {check:.2f} | {per_resource:.2f} | {floor:.2f} | {per_resource / floor:.2f}x "
            f"| {row['peak_mib']:.0f} | {checkov} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
