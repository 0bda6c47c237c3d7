"""The requirement sets by role: their ``.in`` sources and the hashed locks pip-compile makes of them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from infra.offline.runtime import PROJECT_ROOT

SERVICE = PROJECT_ROOT / "services" / "text-classifier"
POLICIES = PROJECT_ROOT / "policies"


@dataclass(frozen=True)
class RequirementSet:
    """One role's ``.in`` source and the lock ``make lock`` compiles from it."""

    role: str
    source: Path
    lock: Path


#: Every set, in the order `make lock` compiles them.
SETS = (
    RequirementSet("program", PROJECT_ROOT / "requirements" / "program.in", PROJECT_ROOT / "requirements.txt"),
    RequirementSet("policy pack", POLICIES / "requirements.in", POLICIES / "requirements.txt"),
    RequirementSet("service", SERVICE / "requirements.in", SERVICE / "requirements.txt"),
    RequirementSet("service training", SERVICE / "requirements-train.in", SERVICE / "requirements-train.txt"),
    RequirementSet("checkov", PROJECT_ROOT / "requirements" / "tools.in", PROJECT_ROOT / "requirements" / "tools.txt"),
    RequirementSet("development", PROJECT_ROOT / "requirements" / "dev.in", PROJECT_ROOT / "requirements" / "dev.txt"),
)
SET = {requirement_set.role: requirement_set for requirement_set in SETS}


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Pin:
    version: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def read_lock(path: Path) -> dict[str, Pin]:
    """``{canonical name: Pin}`` from a pip-compile output with hashes and ``# via`` annotations."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip().rstrip("\\").strip()
        match = _PIN.match(raw)
        if match:
            current = pins.setdefault(canonical(match.group(1)), Pin(match.group(2)))
            in_via = False
        elif current is not None and line.startswith("--hash="):
            current.hashes.append(line.removeprefix("--hash="))
        elif current is not None and line.startswith("# via"):
            rest = line.removeprefix("# via").strip()
            in_via = not rest
            if rest:
                current.via.append(rest)
        elif current is not None and in_via and line.startswith("#   "):
            current.via.append(line.removeprefix("#").strip())
        elif not line.startswith("#"):
            in_via = False
    return pins


def source_names(path: Path) -> set[str]:
    """Project names a ``.in`` file asks for, following ``-r`` includes (``-c`` only constrains)."""
    names: set[str] = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-c "):
            continue
        if line.startswith("-r "):
            names |= source_names(path.parent / line.removeprefix("-r ").strip())
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        assert match, f"{path}: cannot read {raw!r}"
        names.add(canonical(match.group(0)))
    return names


def source_lines(path: Path) -> list[str]:
    return [line for raw in path.read_text(encoding="utf-8").splitlines() if (line := raw.split("#", 1)[0].strip())]
