"""`trooper serve --workers N` (with the Redis store): N processes on one socket, made by
hypercorn, each one a whole Trooper; Redis makes them one (sessions, live updates,
provider health). Each worker builds its app from the same settings at import."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from typing import TYPE_CHECKING

from trooper.config import Settings
from trooper.metrics import MULTIPROC_ENV, clear_metrics_directory

if TYPE_CHECKING:
    from trooper.app import TrooperApp

PIPELINE_ENV = "TROOPER_WORKER_PIPELINE"


def serve_workers(pipeline: str | None, settings: Settings, workers: int) -> int:
    from hypercorn.run import run

    from trooper.cli import server_config

    # The workers are spawned: they read their settings from the environment, as the parent did.
    os.environ[PIPELINE_ENV] = pipeline or ""
    os.environ["TROOPER_BIND"] = settings.server.bind
    os.environ["TROOPER_PORT"] = str(settings.server.port)
    config = server_config(settings)  # as one process has it (keep-alive, timeouts)
    config.workers = workers
    config.application_path = "trooper.workers:build_app()"  # evaluated in each worker
    if importlib.util.find_spec("uvloop") is not None:
        config.worker_class = "uvloop"  # as one process runs
    made = _metrics_directory()
    try:
        return run(config)
    finally:
        if made:
            shutil.rmtree(made, ignore_errors=True)


def _metrics_directory() -> str:
    """Where the workers' metrics meet (/metrics adds them up): PROMETHEUS_MULTIPROC_DIR,
    emptied of a previous run's counts, or a fresh directory (returned, to be removed)."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        clear_metrics_directory(given)
        return ""
    made = tempfile.mkdtemp(prefix="trooper-metrics-")
    os.environ[MULTIPROC_ENV] = made  # the workers are spawned: they inherit it
    return made


def build_app() -> TrooperApp:
    from trooper import connections, logs
    from trooper.app import TrooperApp
    from trooper.cli import _tune_interpreter
    from trooper.config import load
    from trooper.pipeline import build_stages
    from trooper.runtime import Runtime

    settings = load(os.environ.get(PIPELINE_ENV) or None)
    logs.configure(settings.server.log_format, settings.server.log_level)
    connections.install(settings.server)  # before this worker accepts its first connection
    runtime = Runtime(settings)
    for provider in runtime.providers:
        prepare = getattr(provider, "prepare", None)
        if prepare is not None:
            prepare()
    app = TrooperApp(runtime, build_stages(settings.stages, settings.stage_options, runtime))
    _tune_interpreter()  # as one process does
    return app

