"""Sampling parameters cross every client × provider pair: what each SDK sends is what
the fake upstream receives, in that vendor's own names, less what the vendor has no
field for (Anthropic: seed and plain JSON mode; OpenAI: top_k). Vendor-specific fields
travel on the fast path only (same vendor both sides, nothing changed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fakes.upstream import Text
from tests.stacks import PROVIDERS, Stacks, ask, single_provider_troopers

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"], "additionalProperties": False}
MESSAGES = [{"role": "user", "content": "Answer in JSON."}]

# name -> (client, the SDK's keyword arguments, the sampling they mean, a vendor-specific field)
REQUESTS: dict[str, tuple[str, dict[str, Any], dict[str, Any], tuple[str, Any]]] = {
    "anthropic": (
        "anthropic",
        {"max_tokens": 77, "stop_sequences": ["END"], "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}},
         # This SDK version no longer offers these as arguments; the API still takes them.
         "extra_body": {"temperature": 0.3, "top_p": 0.9, "top_k": 40},
         "metadata": {"user_id": "agent-7"}, "messages": MESSAGES},
        {"max_tokens": 77, "temperature": 0.3, "top_p": 0.9, "top_k": 40, "stop": ["END"], "seed": None, "format": SCHEMA},
        ("metadata", {"user_id": "agent-7"}),
    ),
    "openai_json_mode": (
        "openai",
        {"max_tokens": 77, "temperature": 0.3, "top_p": 0.9, "stop": "END", "seed": 7,
         "response_format": {"type": "json_object"}, "user": "agent-7", "messages": MESSAGES},
        {"max_tokens": 77, "temperature": 0.3, "top_p": 0.9, "top_k": None, "stop": ["END"], "seed": 7, "format": "json"},
        ("user", "agent-7"),
    ),
    "openai_structured": (
        "openai",
        {"max_completion_tokens": 77, "temperature": 0.3, "top_p": 0.9, "stop": ["END", "STOP"], "seed": 7,
         "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}},
         "extra_body": {"vendor_field": {"x": 1}}, "messages": MESSAGES},
        {"max_tokens": 77, "temperature": 0.3, "top_p": 0.9, "top_k": None, "stop": ["END", "STOP"], "seed": 7, "format": SCHEMA},
        ("vendor_field", {"x": 1}),
    ),
}
# What each provider's wire format has no field for.
CANNOT_CARRY = {"claude": {"seed"}, "gemini": set(), "openai": {"top_k"}, "ollama": set()}


def carried(provider: str, meant: dict[str, Any]) -> dict[str, Any]:
    carried = {key: None if key in CANNOT_CARRY[provider] else value for key, value in meant.items()}
    if provider == "claude" and carried["format"] == "json":
        carried["format"] = None  # Anthropic follows a schema, but has no plain JSON mode
    return carried
VENDOR_OF = {"claude": "anthropic", "gemini": "gemini", "openai": "openai", "ollama": "ollama"}


def received_sampling(provider: str, body: dict[str, Any]) -> dict[str, Any]:
    """The sampling a request carries, read in its vendor's names."""
    if provider == "claude":
        output_format = (body.get("output_config") or {}).get("format") or {}
        return {"max_tokens": body.get("max_tokens"), "temperature": body.get("temperature"), "top_p": body.get("top_p"),
                "top_k": body.get("top_k"), "stop": body.get("stop_sequences"), "seed": None, "format": output_format.get("schema")}
    if provider == "gemini":
        config = body.get("generationConfig", {})
        json_mode = config.get("responseMimeType") == "application/json"
        return {"max_tokens": config.get("maxOutputTokens"), "temperature": config.get("temperature"), "top_p": config.get("topP"),
                "top_k": config.get("topK"), "stop": config.get("stopSequences"), "seed": config.get("seed"),
                "format": config.get("responseJsonSchema") or ("json" if json_mode else None)}
    if provider == "openai":
        stop = body.get("stop")
        response_format = body.get("response_format") or {}
        formats = {"json_object": "json", "json_schema": response_format.get("json_schema", {}).get("schema")}
        return {"max_tokens": body.get("max_completion_tokens") or body.get("max_tokens"), "temperature": body.get("temperature"),
                "top_p": body.get("top_p"), "top_k": None, "stop": [stop] if isinstance(stop, str) else stop,
                "seed": body.get("seed"), "format": formats.get(response_format.get("type"))}
    options = body.get("options", {})
    return {"max_tokens": options.get("num_predict"), "temperature": options.get("temperature"), "top_p": options.get("top_p"),
            "top_k": options.get("top_k"), "stop": options.get("stop"), "seed": options.get("seed"), "format": body.get("format")}


@pytest.fixture(scope="module")
async def stacks(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stacks]:
    async with single_provider_troopers(tmp_path_factory.mktemp("sampling")) as opened:
        yield opened


@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("request_name", list(REQUESTS))
async def test_sampling_carried_across(stacks: Stacks, request_name: str, provider: str) -> None:
    client, kwargs, meant, (vendor_field, vendor_value) = REQUESTS[request_name]
    fake, url = stacks[provider]
    fake.reset()
    fake.script(Text('{"answer": "yes"}'))
    outcome = await ask(client, url, False, kwargs)
    assert outcome.text == '{"answer": "yes"}'
    [request] = fake.generation_requests()
    assert received_sampling(provider, request.json) == carried(provider, meant)
    # A vendor's own field reaches that vendor, untouched, and no other.
    assert request.json.get(vendor_field) == (vendor_value if VENDOR_OF[provider] == client else None)
