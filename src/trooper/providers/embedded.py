"""The embedded tier: a GGUF model run in this process (`pip install 'trooper-gateway[local]'`),
so Trooper can fall back with no Ollama and no other server.

The model sits behind a tiny OpenAI-compatible HTTP server on 127.0.0.1 (a free port),
served by its own thread and event loop, and the provider talks to it exactly as it would
to llama.cpp's server. That is a deliberate choice over a special in-process call path:
failover, streaming, timeouts, mid-stream continuation and client disconnects then work
for this tier with the very code every other tier uses, and a closed connection is how
the server learns that a client went away (it then stops the generation between tokens).

One server and one loaded model per configuration per process, started
on first use (or ahead of it by `prepare()`, which `trooper serve` calls) and stopped at
exit.
"""

from __future__ import annotations

import asyncio
import atexit
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from trooper.config import ConfigError, ProviderSettings
from trooper.conversation import (
    ApiError,
    BadRequest,
    Block,
    BlockStart,
    BlockStop,
    Conversation,
    Response,
    StopReason,
    StreamEnd,
    StreamStart,
    TextBlock,
    TextDelta,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from trooper.formats import openai
from trooper.formats.common import new_id
from trooper.providers.gguf import GGUFError, read_info
from trooper.providers.llama import Busy, Engine, Job, Prompt, PromptTooLong, default_model_path, default_threads
from trooper.providers.local import LocalOpenAIProvider

GREEDY = 0.0  # temperature when the client sets none


class EmbeddedProvider(LocalOpenAIProvider):
    """The local tier of last resort: never needs a network, a key or another process.
    Its small model neither calls tools nor sees images."""

    context_window: int  # always known: the model file's own, or less
    tools_by_default = False
    images_by_default = False

    def __init__(self, settings: ProviderSettings, env: Mapping[str, str], default_window: int = 6144) -> None:
        super().__init__(settings, env, default_window)
        self.model_path = str(Path(settings.model_path or default_model_path() or "").expanduser())
        self.model = settings.model or Path(self.model_path).stem
        try:
            trained = read_info(self.model_path).context_length
        except GGUFError as exc:
            raise ConfigError(f"provider '{self.name}': {exc}") from None
        # The model never sees more than it was trained on, whatever the setting says;
        # compaction sizes conversations to this window, and it is llama.cpp's n_ctx.
        wanted = settings.context_window or default_window
        self.context_window = min(wanted, trained) if trained else wanted
        self.threads = settings.threads or default_threads()
        self.queue = settings.queue

    @property
    def server(self) -> EmbeddedServer:
        server = serve(self.model_path, self.model, self.context_window, self.threads, self.queue)
        self.base_url = server.url + "/v1"
        return server

    def prepare(self) -> None:
        """Start the server and begin loading the model, ahead of the first request."""
        self.server  # noqa: B018 - starting it is the point

    def endpoint(self, model: str, stream: bool, wire: str = "") -> str:
        return self.server.url + "/v1/chat/completions"

    def health_url(self) -> str:
        return self.server.url + "/v1/models"


_servers: dict[tuple[str, str, int, int, int], EmbeddedServer] = {}
_servers_lock = threading.Lock()


def serve(path: str, model: str, n_ctx: int, threads: int, queue: int) -> EmbeddedServer:
    """The running server for this model and configuration, started if need be."""
    key = (path, model, n_ctx, threads, queue)
    with _servers_lock:
        server = _servers.get(key)
        if server is None:
            server = _servers[key] = EmbeddedServer(Engine(path, n_ctx, threads, queue), model)
            server.start()
        return server


@atexit.register
def close_all() -> None:
    with _servers_lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.close()


# --- the OpenAI-compatible server in front of the engine ---


def prompt_from(conversation: Conversation) -> Prompt:
    """Plain (role, text) turns for the model's chat template. A small model can't call
    tools: calls and their results reach it as text; images are left out. Unless the
    client says otherwise it samples greedily: a 135M model at temperature 0.8 gets
    "What is 2+2?" wrong most of the time, at 0 it answers "4"."""
    turns = [{"role": "system", "content": conversation.system}] if conversation.system else []
    for message in conversation.messages:
        turns.append({"role": message.role, "content": _text_of(message.content)})
    sampling = conversation.sampling
    return Prompt(
        messages=turns,
        max_tokens=sampling.max_tokens,
        temperature=GREEDY if sampling.temperature is None else sampling.temperature,
        top_p=1.0 if sampling.top_p is None else sampling.top_p,
        stop=list(sampling.stop),
        seed=sampling.seed,
    )


def _text_of(blocks: tuple[Block, ...]) -> str:
    """Text parts run together, as the client split them; a tool call or result is a paragraph."""
    out: list[str] = []
    previous: type | None = None
    for block in blocks:
        text = _as_text(block)
        if not text:
            continue
        if out and not (type(block) is TextBlock and previous is TextBlock):
            out.append("\n\n")
        out.append(text)
        previous = type(block)
    return "".join(out)


def _as_text(block: Block) -> str:
    if type(block) is TextBlock:
        return block.text
    if type(block) is ToolUseBlock:
        return f"[called {block.name}({msgspec.json.encode(block.input).decode()})]"
    if type(block) is ToolResultBlock:
        return "Tool result: " + "".join(b.text for b in block.content if type(b) is TextBlock)
    return ""


_DONE: Any = None  # the end marker on a job's text queue


class EmbeddedServer:
    """OpenAI chat completions (whole and streamed) and a model list on 127.0.0.1, spoken
    with Trooper's own OpenAI codec."""

    def __init__(self, engine: Engine, model: str) -> None:
        self.engine = engine
        self.model = model
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # The socket listens before this returns: a request sent at once waits in the
        # backlog while the thread starts, never meets a refused connection.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.engine.start()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(sock),), name="trooper-embedded", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is None:
            return
        if self._ready.wait(5) and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=5)
        self._thread = None
        self.engine.close()

    async def _main(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        # handler_cancellation: a client that hangs up cancels its handler, which stops its job.
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        data = [{"id": self.model, "object": "model", "created": 0, "owned_by": "trooper-embedded"}]
        return web.Response(body=msgspec.json.encode({"object": "list", "data": data}), content_type="application/json")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            conversation = openai.decode_request(await request.read())
        except BadRequest as exc:
            return _error(ApiError(400, "invalid_request", exc.message))
        texts: asyncio.Queue[str | None] = asyncio.Queue()
        put = _sink(texts)
        job = Job(prompt_from(conversation), emit=put, done=lambda: put(_DONE))
        try:
            self.engine.submit(job)
        except Busy as busy:
            return _error(ApiError(503, "overloaded", str(busy)), {"Retry-After": str(busy.retry_after)})
        try:
            first = await texts.get()
            if first is _DONE and job.error is not None:
                return _error(_api_error(job.error))  # failed before a word: a plain HTTP error
            if conversation.stream:
                return await self._stream(request, conversation, job, first, texts)
            return await self._whole(job, first, texts)
        finally:
            job.cancel()  # no-op when it finished; stops it when the client went away

    async def _whole(self, job: Job, first: str | None, texts: asyncio.Queue[str | None]) -> web.Response:
        parts: list[str] = []
        text = first
        while text is not None:  # None is _DONE
            parts.append(text)
            text = await texts.get()
        if job.error is not None:
            return _error(_api_error(job.error))
        answer = Response(new_id("chatcmpl-"), self.model, (TextBlock("".join(parts)),), _stop_reason(job),
                          job.stop_sequence, _usage(job))
        return web.Response(body=openai.encode_response(answer), content_type="application/json")

    async def _stream(
        self, request: web.Request, conversation: Conversation, job: Job, first: str | None, texts: asyncio.Queue[str | None]
    ) -> web.StreamResponse:
        encoder = openai.StreamEncoder(msgspec.structs.replace(conversation, model=self.model))
        response = web.StreamResponse(headers={"Content-Type": encoder.content_type, "Cache-Control": "no-cache"})
        await response.prepare(request)
        await response.write(encoder.encode(StreamStart(new_id("chatcmpl-"), self.model, job.usage.prompt_tokens)))
        await response.write(encoder.encode(BlockStart(0, TextBlock(""))))
        text = first
        while text is not None:  # None is _DONE
            await response.write(encoder.encode(TextDelta(0, text)))
            text = await texts.get()
        if job.error is not None:  # OpenAI's in-stream error: the client's SDK raises it
            await response.write(b"data: " + openai.encode_error(_api_error(job.error)) + b"\n\n")
        else:
            await response.write(encoder.encode(BlockStop(0)))
            await response.write(encoder.encode(StreamEnd(_stop_reason(job), job.stop_sequence, _usage(job))))
            await response.write(encoder.trailer())
        await response.write_eof()
        return response


def _sink(texts: asyncio.Queue[str | None]) -> Callable[[str | None], None]:
    """Hand text from the worker thread to the handler's loop."""
    loop = asyncio.get_running_loop()

    def put(text: str | None) -> None:
        try:
            loop.call_soon_threadsafe(texts.put_nowait, text)
        except RuntimeError:  # the server stopped mid-generation; nobody is listening
            pass

    return put


def _stop_reason(job: Job) -> StopReason:
    if job.finish == "length":
        return "max_tokens"
    return "stop_sequence" if job.stop_sequence is not None else "end_turn"


def _usage(job: Job) -> Usage:
    return Usage(job.usage.prompt_tokens, job.usage.completion_tokens)


def _api_error(error: Exception) -> ApiError:
    if isinstance(error, PromptTooLong):
        return ApiError(400, "invalid_request", str(error))
    return ApiError(500, "api_error", f"the local model failed: {error}")


def _error(error: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=error.status, body=openai.encode_error(error), content_type="application/json", headers=headers)
