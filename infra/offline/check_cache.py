"""A whole-result cache for ``check``: re-checking an unchanged stack answers from disk.

The key is a hash of everything that can change the answer:

- the project files the program, the tool and the pack are made of
  (``KEYED_PATHS``: ``infra/``, ``components/``, ``model/``, ``policies/`` with
  every rule and config, ``services/`` whose build contexts become image tags,
  ``Pulumi.yaml``, ``pyproject.toml``, ``requirements.txt``), by content;
- the stack file (path and content) and a ``--policy-config`` file given;
- every ``PULUMI_*`` environment variable (the program and the pack read their
  config from them);
- the Python version and every installed distribution's version.

Entries live in ``.cache/ai-platform/check/`` under the project (gitignored;
``AI_PLATFORM_CACHE_DIR`` moves it), one JSON file per key, the newest
``KEEP`` kept. ``check --no-cache`` (or ``AI_PLATFORM_NO_CACHE=1``) neither
reads nor writes it. Only finished checks are stored (exit 0 or 1), never a
failure to run. This module needs only the standard library, so a hit costs
no import of the SDK.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: What the program, the tool and the pack are made of, relative to the project root.
KEYED_PATHS = (
    "Pulumi.yaml",
    "pyproject.toml",
    "requirements.txt",
    "infra",
    "components",
    "model",
    "policies",
    "services",
)
_SKIPPED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv", "node_modules"})
DEFAULT_DIR = PROJECT_ROOT / ".cache" / "ai-platform"
KEEP = 32
#: Bump when an entry's shape changes.
_FORMAT = 1


def add_check_arguments(command: argparse.ArgumentParser) -> None:
    """The ``check`` command's arguments (the CLI's parser and the cached fast path share them)."""
    source = command.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="stack name: reads stacks/Pulumi.NAME.yaml")
    source.add_argument("--config", help="any Pulumi.<name>.yaml stack file")
    command.add_argument("--out", help="also write the render here")
    command.add_argument("--json", action="store_true", help="print a JSON report")
    command.add_argument(
        "--policy-config", help="policy pack config file (default: policies/config/<environment>.json)"
    )
    command.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the result cache (.cache/ai-platform/ under the project)",
    )


def enabled(args: argparse.Namespace) -> bool:
    return not args.no_cache and os.environ.get("AI_PLATFORM_NO_CACHE", "") in ("", "0")


def cache_dir() -> Path:
    return Path(os.environ.get("AI_PLATFORM_CACHE_DIR") or DEFAULT_DIR) / "check"


def stack_file_of(args: argparse.Namespace) -> Path:
    return Path(args.config) if args.config else PROJECT_ROOT / "stacks" / f"Pulumi.{args.stack}.yaml"


def _files(root: Path) -> Iterator[Path]:
    for name in KEYED_PATHS:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for directory, subdirs, files in os.walk(path):
                subdirs[:] = sorted(d for d in subdirs if d not in _SKIPPED_DIRS)
                for file in sorted(files):
                    if not file.endswith(".pyc"):
                        yield Path(directory) / file


def key(
    stack_file: Path,
    policy_config: Path | None,
    *,
    root: Path = PROJECT_ROOT,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The hash of everything that can change ``check``'s answer (see the module docstring)."""
    digest = hashlib.sha256(f"ai-platform check cache {_FORMAT}\n".encode())

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    for path in _files(root):
        add(f"file:{path.relative_to(root).as_posix()}", path.read_bytes())
    add(f"stack:{stack_file.resolve()}", stack_file.read_bytes())
    if policy_config is not None:
        add(f"policy-config:{policy_config.resolve()}", policy_config.read_bytes())
    environment = os.environ if environ is None else environ
    for name in sorted(environment):
        if name.startswith("PULUMI_"):
            add(f"env:{name}", environment[name].encode())
    add("python", sys.version.encode())
    versions = sorted({(d.metadata["Name"] or "").lower(): d.version for d in metadata.distributions()}.items())
    add("packages", json.dumps(versions).encode())
    return digest.hexdigest()


def load(entry_key: str) -> dict[str, Any] | None:
    path = cache_dir() / f"{entry_key}.json"
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != _FORMAT:
        return None
    path.touch()  # most recently used
    return entry


def store(entry_key: str, entry: dict[str, Any]) -> None:
    """Write an entry atomically; keep the newest ``KEEP``. A cache that cannot be written is no error."""
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp", delete=False, encoding="utf-8") as file:
            json.dump({**entry, "format": _FORMAT}, file)
        Path(file.name).replace(directory / f"{entry_key}.json")
        entries = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in entries[KEEP:]:
            stale.unlink(missing_ok=True)
    except OSError:
        return


def write_render(out_dir: Path, resources: list[Any], manifests: list[tuple[str, dict[str, Any]]]) -> None:
    """``DIR/manifests/`` (one object per file) and ``DIR/resources.json``, from plain data."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    manifest_dir = out_dir / "manifests"
    manifest_dir.mkdir(parents=True, exist_ok=True)
    for stale in manifest_dir.glob("*.yaml"):
        stale.unlink()
    for file_name, body in manifests:
        text = yaml.dump(body, Dumper=dumper, sort_keys=False, default_flow_style=False)
        (manifest_dir / file_name).write_text(text, encoding="utf-8")
    (out_dir / "resources.json").write_text(json.dumps(resources, indent=2) + "\n", encoding="utf-8")


def replay(entry: dict[str, Any], args: argparse.Namespace) -> int:
    """Answer a ``check`` from a cached entry exactly as the run that stored it did."""
    if args.out:
        write_render(Path(args.out), entry["resources"], [(name, body) for name, body in entry["manifests"]])
    if args.json:
        print(json.dumps(entry["report"], indent=2))
    else:
        print(entry["text"], end="")
    return int(entry["exit"])


def cached_check(argv: list[str]) -> int | None:
    """The fast path: the exit code of a ``check`` answered from the cache, or None to run it."""
    if not argv or argv[0] != "check":
        return None
    parser = argparse.ArgumentParser(add_help=False)
    add_check_arguments(parser)
    try:
        args, rest = parser.parse_known_args(argv[1:])
    except SystemExit:
        return None
    if rest or not enabled(args):
        return None
    stack_file = stack_file_of(args)
    try:
        entry_key = key(stack_file, Path(args.policy_config) if args.policy_config else None)
    except OSError:
        return None
    entry = load(entry_key)
    return None if entry is None else replay(entry, args)
