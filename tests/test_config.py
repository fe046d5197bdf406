"""Configuration: env vars and pipeline.toml become settings; every mistake is one
line naming the bad key, and `trooper serve` exits 2 on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trooper.config import ConfigError, load, points_at
from trooper.pipeline import build_stages
from trooper.runtime import Runtime


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    return path


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trooper.cli", "serve", *args],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_env_chain_defaults() -> None:
    settings = load(None, env={"CLAUDE_API_KEY": "k", "LOCAL_EMBEDDED": "off"})  # tests/test_local_config.py has it
    assert [(p.name, p.kind, p.model) for p in settings.providers] == [
        ("claude", "anthropic", "claude-haiku-4-5"),
        ("gemini", "gemini", "gemini-2.0-flash"),
        ("openai", "openai", "gpt-4o-mini"),
        ("ollama", "ollama", "qwen2.5:3b"),
    ]
    assert settings.server.bind == "127.0.0.1" and settings.server.port == 3000
    assert settings.quota_status_codes == {429, 402, 529, 400}


def test_env_overrides_and_full_endpoint_urls() -> None:
    env = {
        "CLAUDE_URL": "https://proxy.example/v1/messages", "OPENAI_URL": "https://api.groq.com/openai/v1/chat/completions",
        "CLAUDE_MODEL": "claude-sonnet-4-5", "OLLAMA_MODEL": "llama3.1:8b", "TROOPER_PORT": "4000",
        "QUOTA_STATUS_CODES": "429, 529", "LOCAL_EMBEDDED": "off",
    }
    settings = load(None, env=env)
    runtime = Runtime(settings, env=env)
    claude, gemini, openai_, ollama = runtime.providers
    assert claude.endpoint("m", False) == "https://proxy.example/v1/messages"
    assert openai_.endpoint("m", False) == "https://api.groq.com/openai/v1/chat/completions"
    assert ollama.model == "llama3.1:8b" and claude.model == "claude-sonnet-4-5"
    assert settings.server.port == 4000
    assert settings.quota_status_codes == {429, 529}


def test_model_choice_per_provider() -> None:
    env = {"LOCAL_EMBEDDED": "off"}
    runtime = Runtime(load(None, env=env), env=env)
    claude, gemini, openai_, ollama = runtime.providers
    assert claude.model_for("claude-opus-4-1") == "claude-opus-4-1"
    assert claude.model_for("gpt-4o") == "claude-haiku-4-5"
    assert openai_.model_for("gpt-4.1") == "gpt-4.1"
    assert openai_.model_for("claude-haiku-4-5") == "gpt-4o-mini"
    assert ollama.model_for("claude-haiku-4-5") == "qwen2.5:3b"
    assert gemini.model_for("gemini-2.5-pro") == "gemini-2.5-pro"
    assert gemini.model_for("gpt-4o") == "gemini-2.0-flash"
    assert gemini.endpoint("gemini-2.0-flash", True) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    )


def test_refuses_to_proxy_to_itself() -> None:
    with pytest.raises(ConfigError, match="Trooper's own address"):
        load(None, env={"CLAUDE_URL": "http://localhost:3000"})
    assert points_at("http://127.0.0.1:3000/v1", "0.0.0.0", 3000)
    assert not points_at("http://127.0.0.1:3001", "127.0.0.1", 3000)


def test_providers_from_pipeline_toml(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[providers]]
name = "groq"
kind = "openai"
url = "https://api.groq.com/openai/v1"
key_env = "GROQ_API_KEY"
model = "llama-3.3-70b-versatile"

[[providers]]
name = "local"
kind = "ollama"
url = "http://127.0.0.1:11434/api/chat"
model = "qwen2.5:3b"
""")
    runtime = Runtime(load(path, env={"GROQ_API_KEY": "gsk_x"}), env={"GROQ_API_KEY": "gsk_x"})
    groq, local = runtime.providers
    assert groq.key == "gsk_x" and not groq.local and local.local


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[pipeline]\nstages = ["normalize", "teleport", "failover"]', "unknown stage 'teleport'"),
        ('[stages.failover]\nquota_status_kodes = [429]', "[stages.failover] unknown option 'quota_status_kodes' (options: quota_status_codes, timeouts, breaker"),
        ('[stages.normalize]\nderive_session = "yes"', "[stages.normalize] 'derive_session': expected `bool`, got `str`"),
        ('[stages.route]\n', None),
        ('[pipeline]\nstages = ["normalize", "failover"]\n[stages.observe]\nlog_attempts = true', "[stages.observe] configures a stage that is not in [pipeline] stages"),
        ('[server]\nprot = 3000', "unknown key 'server.prot'"),
        ('[[providers]]\nname = "x"\nkind = "bard"\nurl = "http://a"', "'providers[0].kind'"),
        ("[pipeline\nstages = []", "not valid TOML"),
    ],
)
def test_config_errors_name_the_bad_key(tmp_path: Path, toml: str, message: str | None) -> None:
    path = write(tmp_path, toml)
    if message is None:
        settings = load(path, env={})
        build_stages(settings.stages, settings.stage_options, Runtime(settings, env={}))
        return
    with pytest.raises(ConfigError) as caught:
        settings = load(path, env={})
        build_stages(settings.stages, settings.stage_options, Runtime(settings, env={}))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_stage_lists_installed_ones(tmp_path: Path) -> None:
    path = write(tmp_path, '[pipeline]\nstages = ["normalize", "teleport"]')
    result = serve("--pipeline", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "unknown stage 'teleport'" in lines[0]
    for name in ("normalize", "route", "failover", "headers", "observe"):
        assert name in lines[0]
    assert "Traceback" not in result.stderr


def test_misspelt_option_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[stages.headers]\nsumary = true')
    result = serve("--pipeline", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "trooper: error: [stages.headers] unknown option 'sumary' (options: summary)"
    )


def test_bad_env_value_exits_2(tmp_path: Path) -> None:
    result = serve(env={"TROOPER_PORT": "three thousand"})
    assert result.returncode == 2
    assert "TROOPER_PORT='three thousand': expected a whole number" in result.stderr


def test_missing_pipeline_file_exits_2(tmp_path: Path) -> None:
    result = serve("--pipeline", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "file not found" in result.stderr


def test_stages_command_lists_builtins_with_package() -> None:
    result = subprocess.run([sys.executable, "-m", "trooper.cli", "stages"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    rows = {line.split()[0]: line for line in result.stdout.splitlines()}
    for name in ("normalize", "route", "failover", "headers", "observe"):
        assert "trooper " in rows[name] and f"trooper.stages.{name}:" in rows[name]


def test_shipped_pipeline_toml_is_valid() -> None:
    path = Path(__file__).parent.parent / "pipeline.toml"
    settings = load(path, env={})
    stages = build_stages(settings.stages, settings.stage_options, Runtime(settings, env={}))
    assert [s.name for s in stages] == ["normalize", "classify", "compact", "route", "failover", "headers", "observe"]
