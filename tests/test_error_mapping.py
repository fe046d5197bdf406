"""Each provider's error bodies reach each SDK in the client's own error shape, with the
upstream's status, so the SDK raises its own typed exception.

The Troopers here serve one provider each and fall over on nothing (quota_status_codes
= []), so a 429 or a 529 comes back as itself instead of being tried elsewhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import openai
import pytest

from tests.fakes.upstream import Error
from tests.stacks import CLIENTS, PROVIDERS, Stacks, ask, single_provider_troopers

# status -> (Anthropic SDK exception, its error.type; OpenAI SDK exception, its error.code)
EXPECTED: dict[int, tuple[type[Exception], str, type[Exception], str | None]] = {
    400: (anthropic.BadRequestError, "invalid_request_error", openai.BadRequestError, None),
    401: (anthropic.AuthenticationError, "authentication_error", openai.AuthenticationError, "invalid_api_key"),
    429: (anthropic.RateLimitError, "rate_limit_error", openai.RateLimitError, "rate_limit_exceeded"),
    529: (anthropic.OverloadedError, "overloaded_error", openai.InternalServerError, "overloaded"),
    503: (anthropic.InternalServerError, "", openai.InternalServerError, ""),
}
# Anthropic says "overloaded" with 529; the others with 503.
OVERLOADED = {"claude": 529, "gemini": 503, "openai": 503, "ollama": 503}
REQUEST = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="module")
async def stacks(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stacks]:
    async with single_provider_troopers(tmp_path_factory.mktemp("errors"), quota_status_codes=[]) as opened:
        yield opened


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("status", [400, 401, 429, "overloaded"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("client", CLIENTS)
async def test_error_reaches_the_sdk_typed(stacks: Stacks, client: str, provider: str, status: int | str, streamed: bool) -> None:
    code = OVERLOADED[provider] if status == "overloaded" else int(status)
    fake, url = stacks[provider]
    fake.reset()
    fake.script(Error(code, message=f"upstream {provider} says no ({code})"))
    anthropic_error, anthropic_type, openai_error, openai_code = EXPECTED[code]
    with pytest.raises(anthropic_error if client == "anthropic" else openai_error) as caught:
        await ask(client, url, streamed, REQUEST)
    error = caught.value
    assert isinstance(error, anthropic.APIStatusError | openai.APIStatusError)
    assert error.status_code == code
    assert f"upstream {provider} says no ({code})" in error.message
    if code == 503:
        return  # 503 always falls over; with no other provider, the answer is "all providers failed"
    if client == "anthropic":
        assert isinstance(error.body, dict) and error.body["error"]["type"] == anthropic_type
    else:
        assert error.code == openai_code  # type: ignore[union-attr]


async def test_gemini_bad_key_is_an_authentication_error(stacks: Stacks) -> None:
    """Gemini answers a bad key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID: the
    status stays 400 (the SDK raises BadRequestError) and the error type says authentication."""
    fake, url = stacks["gemini"]
    fake.reset()
    body = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}
    fake.script(Error(400, body=body))
    with pytest.raises(anthropic.BadRequestError) as caught:
        await ask("anthropic", url, False, REQUEST)
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert "API key not valid" in caught.value.message
