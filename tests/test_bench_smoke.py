"""The benchmark harness can't rot: bench/run.py runs every scenario for about a second
against the fast fake upstream, for a direct call and Trooper (no LiteLLM, no network),
and each produced figures. Nothing here is timed: benchmarks are not tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
RUN = ROOT / "bench" / "run.py"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the bench reads /proc")


def run_bench(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(RUN), *args, "--out", str(tmp_path), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["table"] in done.stdout
    return results


def positive(figures: dict | None) -> bool:
    return bool(figures) and figures["n"] > 0 and figures["p50"] >= 0 and figures["max"] > 0


def test_every_scenario_produces_figures(tmp_path: Path) -> None:
    results = run_bench(
        tmp_path, "--systems", "direct,trooper", "--duration", "0.8", "--warmup", "0.2", "--concurrency", "8",
        "--chunks", "20", "--search-steps", "2", "--search-duration", "0.8",
    )
    assert results["machine"]["nproc"] and results["machine"]["python"]
    for name in ("direct", "trooper"):
        system = results["systems"][name]
        assert not system["note"], system["note"]
        scenarios = system["scenarios"]
        for scenario in ("small", "long", "stream", "paced", "fallback"):
            run = scenarios[scenario]["c8"]
            assert run["ok"] > 0 and run["rps"] > 0, (name, scenario, run)
            assert not run["errors"], (name, scenario, run["errors"])
            assert positive(run["latency_ms"]) and positive(run["ttfb_ms"]), (name, scenario)
        for scenario in ("stream", "paced"):
            run = scenarios[scenario]["c8"]
            assert run["chunks_per_stream"] == 20, (name, scenario, run)
            assert positive(run["ttft_ms"]) and positive(run["chunk_delay_ms"]), (name, scenario)
        assert positive(scenarios["paced"]["c8"]["chunk_gap_ms"])  # a burst's chunks arrive together: gaps of 0
        tried = system["throughput"]["tried"]
        assert tried and all(step["rps"] > 0 for step in tried), tried
        assert system["throughput"]["sustained_rps"] >= 0

    trooper = results["systems"]["trooper"]
    assert trooper["cpu_s_per_1k"] > 0 and trooper["rss_idle_mb"] > 0 and trooper["rss_warm_mb"] > 0
    # The fallback really fell back: the primary said 429 and the local model answered.
    upstream = trooper["scenarios"]["fallback"]["upstream"]
    assert upstream.get("anthropic 429", 0) > 0 and upstream.get("ollama 200", 0) > 0, upstream
    # Routed: measured only once Trooper's answers say the local model answered them.
    routed = trooper["scenarios"]["routed"]
    assert "na" in routed or routed["c8"]["ok"] > 0
    assert "| trooper |" in results["table"] and "Targets (Trooper)" in results["table"]


def test_memory_mode_produces_figures(tmp_path: Path) -> None:
    results = run_bench(tmp_path, "--memory", "--systems", "trooper", "--memory-requests", "1000", "--memory-sessions", "100",
                          "--memory-rate", "1000")
    memory = results["systems"]["trooper"]["memory"]
    assert "na" not in memory, memory
    assert memory["requests"] == 1000 and memory["sessions"] == 100 and memory["errors"] == 0
    assert memory["rss_warm_mb"] > 0 and memory["rss_after_first_mb"] > 0 and memory["rss_after_total_mb"] > 0
    assert "growth_mb" in memory and "per_session_kb" in memory


def test_two_workers_sharing_redis_produce_figures(tmp_path: Path) -> None:
    """The shared-store row (2 workers + Redis, beside 1 worker + SQLite) still runs."""
    results = run_bench(
        tmp_path, "--systems", "redis2w", "--scenarios", "small,stream,throughput", "--duration", "0.8",
        "--warmup", "0.2", "--concurrency", "8", "--chunks", "20", "--search-steps", "2", "--search-duration", "0.8",
    )
    system = results["systems"]["redis2w"]
    assert not system["note"], system["note"]
    for scenario in ("small", "stream"):
        run = system["scenarios"][scenario]["c8"]
        assert run["ok"] > 0 and not run["errors"], (scenario, run)
    assert system["throughput"]["tried"] and system["cpu_s_per_1k"] > 0
    assert "| trooper, 2 workers + redis |" in results["table"]


def test_the_splice_bench_prints_every_case() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "splice.py"), "--runs", "1", "--token-ms", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.endswith(" ms")]
    assert [row.split("  ")[0] for row in rows] == [
        "prefill: carries on", "no prefill: seam words first", "no prefill: restarts (spliced)", "no prefill: answers else (refused)"]
