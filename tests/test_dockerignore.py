"""The build-context digest follows `.dockerignore` exactly as Docker does, `!` exceptions included."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.service_image import context_digest, context_files

FILES = [
    "Dockerfile",
    ".dockerignore",
    "README.md",
    "CHANGES.md",
    "docs/guide.md",
    "docs/keep.txt",
    "app/main.py",
    "app/__pycache__/main.pyc",
    "build/out.bin",
    "cache/data",
]

CASES: list[tuple[str, list[str], set[str]]] = [
    # (case, .dockerignore lines, files Docker leaves out)
    ("root-only without a slash", ["*.md"], {"README.md", "CHANGES.md"}),
    ("exception re-includes", ["*.md", "!README.md"], {"CHANGES.md"}),
    ("last match wins", ["!README.md", "*.md"], {"README.md", "CHANGES.md"}),
    ("any depth with **", ["**/*.md", "!README.md"], {"CHANGES.md", "docs/guide.md"}),
    ("a directory and everything in it", ["docs"], {"docs/guide.md", "docs/keep.txt"}),
    ("re-include below an excluded directory", ["docs", "!docs/keep.txt"], {"docs/guide.md"}),
    ("trailing slash and leading slash", ["/build/"], {"build/out.bin"}),
    ("cleaned like filepath.Clean", ["./tmp/../cache"], {"cache/data"}),
    ("comments, blanks and spaces", ["# *.md", "", "  app/__pycache__  "], {"app/__pycache__/main.pyc"}),
    ("nested wildcard", ["**/__pycache__"], {"app/__pycache__/main.pyc"}),
    ("one level of *", ["*/main.py"], {"app/main.py"}),
    ("? is one character", ["CHANGES.m?"], {"CHANGES.md"}),
    (
        "Dockerfile and .dockerignore are always sent",
        ["Dockerfile", ".dockerignore", "*"],
        set(FILES)
        - {
            "Dockerfile",
            ".dockerignore",
        },
    ),
]


def make_context(root: Path, ignore: list[str]) -> Path:
    for name in FILES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    (root / ".dockerignore").write_text("\n".join(ignore) + "\n")
    return root


@pytest.mark.parametrize(("ignore", "left_out"), [pytest.param(i, e, id=case) for case, i, e in CASES])
def test_context_files_follow_dockers_rules(tmp_path: Path, ignore: list[str], left_out: set[str]) -> None:
    context = make_context(tmp_path, ignore)
    sent = {path.relative_to(context).as_posix() for path in context_files(context)}
    assert sent == set(FILES) - left_out


def test_a_file_kept_by_an_exception_is_part_of_the_digest(tmp_path: Path) -> None:
    """`*.md` + `!README.md`: Docker sends README.md, so changing it must change the tag."""
    context = make_context(tmp_path, ["*.md", "!README.md"])
    before = context_digest(context)
    (context / "CHANGES.md").write_text("ignored change")
    assert context_digest(context) == before
    (context / "README.md").write_text("a change Docker sends")
    assert context_digest(context) != before
