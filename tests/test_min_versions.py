"""The lower bounds in pyproject.toml are versions Trooper really runs on: a fresh venv gets
exactly the minimum of every runtime dependency (`pip install --constraint`), and a smoke
subset of the suite passes in it: the real `trooper serve`, both SDKs through the proxy,
failover and the circuit breaker, /metrics, and the `otel` extra's traces.

Marked `minversions` (deselect with -m 'not minversions'); about a minute with pip's cache.
A bound that fails here is raised in pyproject.toml, never left standing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ["tests/test_serve_cli.py", "tests/test_proxy_e2e.py", "tests/test_failover.py",
         "tests/test_observability.py::test_metrics_parse_as_prometheus_text", "tests/test_tracing.py"]
EXTRAS = ["otel"]  # extras checked at their lower bounds too (the smoke subset exercises them)
# What the smoke tests themselves import; these float (they are not Trooper's dependencies).
TEST_TOOLS = ["pytest", "pytest-asyncio", "anthropic", "openai"]

pytestmark = pytest.mark.minversions


def lower_bounds() -> dict[str, str]:
    """name -> the version each runtime dependency's `>=` names (the checked extras' too)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds: dict[str, str] = {}
    extras = [line for extra in EXTRAS for line in project["optional-dependencies"][extra]]
    for line in [*project["dependencies"], *extras]:
        requirement = Requirement(line)
        minimum = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert minimum, f"{line}: every dependency names its lower bound with >="
        bounds[requirement.name] = minimum[0]
    return bounds


def test_every_dependency_has_a_lower_bound() -> None:
    bounds = lower_bounds()
    assert {"starlette", "hypercorn", "aiohttp", "msgspec", "structlog"} <= set(bounds)
    assert Version(bounds["structlog"]) >= Version("25.5")  # below it `trooper serve` fails at start-up with a TypeError


def test_the_smoke_suite_passes_on_the_minimum_versions(tmp_path: Path) -> None:
    bounds = lower_bounds()
    constraints = tmp_path / "minimum.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in bounds.items()))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # Built from a copy: building in the tree would leave build/ and egg-info behind.
    project = tmp_path / "project"
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, project / name)
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--constraint", str(constraints), f"{project}[{','.join(EXTRAS)}]",
         *TEST_TOOLS],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    listed = subprocess.run([python, "-m", "pip", "list", "--format=json"], env=env, capture_output=True, text=True, check=True)
    installed = {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}
    for name, version in bounds.items():
        found = installed.get(name.lower())
        assert found and Version(found) == Version(version), f"{name}: {found} installed, {version} wanted"
    assert installed.get("trooper-gateway"), "the project itself is installed in the venv"

    # The tests import `trooper` from the venv's install (no PYTHONPATH), `tests` from the tree.
    smoke = subprocess.run(
        [python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not model", *SMOKE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert smoke.returncode == 0, smoke.stdout[-5000:] + smoke.stderr[-2000:]
    summary = smoke.stdout.splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, summary  # every smoke test ran
    imported = subprocess.run([python, "-c", "import trooper; print(trooper.__file__)"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=True)
    assert str(env_dir) in imported.stdout, imported.stdout

