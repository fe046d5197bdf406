"""The linter and the type checker are part of the suite, so the README's test command
guards them: ruff over the code and its tests, and mypy strict over src/trooper, both with
the settings in pyproject.toml ([tool.ruff], [tool.mypy])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", "src", "tests", "bench", "plugins")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing_in_src() -> None:
    result = _run("mypy")  # which files, and how strict, from [tool.mypy]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_no_module_binds_a_top_level_name_twice() -> None:
    """Two patterns of one name in a module: the later silently replaces the earlier for every
    function that reads it (f74fcbd: two `_ASIDE`s written by two hands). ruff's F811 sees only
    functions and imports redefined, not assignments."""
    import ast

    twice = []
    for path in sorted((ROOT / "src" / "trooper").rglob("*.py")):
        seen: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign):
                names = [target.id for target in node.targets if isinstance(target, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names = [node.name]
            else:
                continue
            twice += [f"{path.relative_to(ROOT)}: {name}" for name in names if name in seen]
            seen.update(names)
    assert twice == []
