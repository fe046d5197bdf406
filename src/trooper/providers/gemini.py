"""Google's Gemini API (generativelanguage.googleapis.com): generateContent and
streamGenerateContent, the model named in the path, the key in `x-goog-api-key`."""

from __future__ import annotations

from collections.abc import Mapping

from trooper.formats.ingress import URL_MODEL
from trooper.providers.base import Provider


class GeminiProvider(Provider):
    kind = "gemini"
    endpoint_suffixes = ("/v1beta/models", "/v1beta")

    def owns_model(self, model: str) -> bool:
        # The model goes into the URL's path: only a plain name may (else the configured one is asked).
        return model.startswith("gemini") and URL_MODEL.match(model) is not None

    def endpoint(self, model: str, stream: bool, wire: str = "") -> str:
        if stream:
            return f"{self.base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse"
        return f"{self.base_url}/v1beta/models/{model}:generateContent"

    def auth_headers(self, key: str, client_headers: Mapping[str, str] | None = None) -> dict[str, str]:
        return {"x-goog-api-key": key} if key else {}

    def health_url(self) -> str:
        return self.base_url + "/v1beta/models"
