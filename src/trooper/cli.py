"""The `trooper` command: `serve`, `stages`, `check`, `doctor`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from trooper import __version__
from trooper.config import ConfigError, Settings, load
from trooper.pipeline import build_stages, installed_stages, stage_package

if TYPE_CHECKING:  # imported where used: `trooper --help` stays quick
    from hypercorn.config import Config

    from trooper.app import TrooperApp
    from trooper.runtime import Runtime

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_CONFIG
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ConfigError as exc:
        print(f"trooper: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trooper", description="A local-first LLM gateway.")
    parser.add_argument("--version", action="version", version=f"trooper {__version__}")
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="run the proxy")
    serve.add_argument("--pipeline", help="pipeline.toml: stages, their options, providers")
    serve.add_argument("--bind", help="address to listen on (default 127.0.0.1; env TROOPER_BIND)")
    serve.add_argument("--port", type=int, help="port to listen on (default 3000; env TROOPER_PORT)")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes (default 1; more than 1 needs the Redis store, TROOPER_STORE)")
    serve.set_defaults(run=cmd_serve)

    stages = commands.add_parser("stages", help="list installed pipeline stages and their packages")
    stages.set_defaults(run=cmd_stages)

    check = commands.add_parser("check", help="validate the configuration and print the provider chain")
    check.add_argument("--pipeline", help="pipeline.toml to check")
    check.set_defaults(run=cmd_check)

    doctor = commands.add_parser("doctor", help="check the providers, the local model, the store and the port")
    doctor.add_argument("--pipeline", help="pipeline.toml to check")
    doctor.set_defaults(run=cmd_doctor)
    return parser


def cmd_stages(args: argparse.Namespace) -> int:
    installed = installed_stages()
    width = max((len(name) for name in installed), default=0)
    for name in sorted(installed):
        entry = installed[name]
        print(f"{name:<{width}}  {stage_package(entry):<24}  {entry.value}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from trooper.runtime import Runtime

    settings = load(args.pipeline)
    runtime = Runtime(settings)
    build_stages(settings.stages, settings.stage_options, runtime)
    print(f"pipeline: {' → '.join(settings.stages)}")
    print(f"chain:    {chain_description(runtime)}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from trooper import logs
    from trooper.doctor import diagnose, report
    from trooper.runtime import Runtime

    settings = load(args.pipeline)
    logs.configure(settings.server.log_format, "error")
    text, code = report(asyncio.run(diagnose(Runtime(settings))))
    print(text)
    return code


def chain_description(runtime: Runtime) -> str:
    parts = []
    for p in runtime.providers:
        key = "local" if not p.key_env else ("key set" if p.key else f"no key: {p.key_env} unset, client keys only")
        parts.append(f"{p.name} [{p.model}, {key}]")
    return " → ".join(parts)


def cmd_serve(args: argparse.Namespace) -> int:
    from trooper import logs
    from trooper.app import TrooperApp
    from trooper.runtime import Runtime

    settings = load(args.pipeline, bind=args.bind, port=args.port)
    logs.configure(settings.server.log_format, settings.server.log_level)
    workers = getattr(args, "workers", 1) or 1
    if workers > 1:
        if not settings.store.url:
            print("trooper: error: --workers needs the shared store: worker processes can't share one SQLite "
                  "file. Set TROOPER_STORE=redis://host:port/db (README: Deployment), or run one worker.",
                  file=sys.stderr)
            return 2
        import structlog

        from trooper.workers import serve_workers

        runtime = Runtime(settings)  # for the banner only: each worker builds its own
        _announce(settings, runtime)
        if any(p.kind == "embedded" for p in settings.providers):
            structlog.get_logger("trooper").warning(
                "embedded_model_per_worker", workers=workers,
                hint="each worker loads its own copy of the embedded model; to share one local model, "
                     "run Ollama or a LOCAL_URL server and set LOCAL_EMBEDDED=off",
            )
        return serve_workers(args.pipeline, settings, workers)
    from trooper.metrics import MULTIPROC_ENV, clear_metrics_directory

    if os.environ.get(MULTIPROC_ENV):  # one process keeping its metrics in files (as workers do)
        clear_metrics_directory(os.environ[MULTIPROC_ENV])
    runtime = Runtime(settings)
    stages = build_stages(settings.stages, settings.stage_options, runtime)
    app = TrooperApp(runtime, stages)
    _announce(settings, runtime)
    for provider in runtime.providers:
        prepare = getattr(provider, "prepare", None)  # read Ollama's window, start the embedded model
        if prepare is not None:
            prepare()
    try:
        _run(app, settings)
    except Exception as exc:
        if app.startup_error:  # the store, or a stage's start-up hook
            print(f"trooper: error: {app.startup_error}", file=sys.stderr)
            return EXIT_CONFIG
        if not isinstance(exc, OSError):
            raise
        print(
            f"trooper: error: cannot listen on {settings.server.bind}:{settings.server.port}: {exc.strerror or exc}"
            " (set --port or TROOPER_PORT)",
            file=sys.stderr,
        )
        return 1
    return 0


def _announce(settings: Settings, runtime: Runtime) -> None:
    import structlog

    log = structlog.get_logger("trooper")
    server = settings.server
    log.info("starting", url=f"http://{_host(server.bind)}:{server.port}", pipeline=" → ".join(settings.stages))
    log.info("chain", providers=chain_description(runtime))
    if not any(p.key for p in runtime.providers if p.key_env):
        log.warning(
            "no_cloud_key",
            hint="set CLAUDE_API_KEY and/or OPENAI_API_KEY; until then cloud calls use the key each client sends",
        )
        from trooper.stages.failover import LOCAL_EXTRA_HINT, embedded_installed

        if not any(p.kind == "embedded" for p in runtime.providers) and not embedded_installed():
            log.warning("no_local_model", hint=LOCAL_EXTRA_HINT)  # the first hour: say it before the first 503
    if server.bind not in ("127.0.0.1", "::1", "localhost"):
        log.warning("listening_beyond_loopback", bind=server.bind)


def _host(bind: str) -> str:
    return f"[{bind}]" if ":" in bind else bind


def _tune_interpreter() -> None:
    """Measured by bench/run.py's profile: the objects built at start-up live for the whole
    process, so keep them out of every collection; collect less often (requests make many
    short-lived objects); and let the store's worker thread hold the interpreter for less
    time at once, so it never delays the request path by a whole 5 ms switch interval."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    sys.setswitchinterval(0.0005)


def server_config(settings: Settings) -> Config:
    """hypercorn's settings, the same for one process and for workers."""
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{_host(settings.server.bind)}:{settings.server.port}"]
    config.accesslog = None
    config.errorlog = None
    config.keep_alive_timeout = 75  # SDKs pool connections; don't drop them between turns
    config.keep_alive_max_requests = 1_000_000  # hypercorn's default (1000) makes clients reconnect
    config.graceful_timeout = 5
    return config


def _run(app: TrooperApp, settings: Settings) -> None:
    from hypercorn.asyncio import serve

    from trooper import connections

    config = server_config(settings)
    connections.install(settings.server)
    _tune_interpreter()

    async def serve_until_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async def stop_requested() -> None:
            await stop.wait()
            app.stopping()  # end live /events streams, which would hold up a graceful stop

        # hypercorn types the ASGI scope and messages as TypedDicts; the app reads them as dicts.
        await serve(app, config, shutdown_trigger=stop_requested)  # type: ignore[arg-type]

    try:
        import uvloop

        uvloop.run(serve_until_signal())
    except ImportError:
        asyncio.run(serve_until_signal())


if __name__ == "__main__":
    sys.exit(main())
