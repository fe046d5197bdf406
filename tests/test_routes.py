"""The routing tables are the formats' declarations and nothing else: each codec's `INGRESS`
(its pipeline paths, its URL grammar, its vendor's API space) is routed without routes.py
naming it, a new format's declaration is routed as soon as it is declared, and the shared
paths go to the vendor whose SDK marked the request. Over HTTP, these routes are exercised
by test_passthrough.py and test_gemini_ingress.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trooper.formats import codec, ingresses, names
from trooper.formats.ingress import ApiSpace, Call, Grammar, Ingress
from trooper.routes import PIPELINE_ROUTES, ROUTES, Routes, query_credential, route

SRC = Path(__file__).resolve().parent.parent / "src" / "trooper"
FORMAT_NAME = re.compile(r"""["'](anthropic|openai|responses|gemini|ollama)["']""")
ANTHROPIC_SDK = {"anthropic-version": "2023-06-01"}


def test_the_pipeline_table_is_exactly_what_the_formats_declare() -> None:
    declared = {(path, name) for name in names() for path in codec(name).INGRESS.paths}
    assert set(PIPELINE_ROUTES.items()) == declared
    assert len(PIPELINE_ROUTES) == len(declared)  # no path declared by two formats
    assert [name for name, _ in ROUTES.spaces] == [name for name, ingress in ingresses() if ingress.api is not None]
    assert [name for name, _ in ROUTES.grammars] == [name for name, ingress in ingresses() if ingress.grammar is not None]


@pytest.mark.parametrize("module", ["routes.py", "app.py", "passthrough.py", "access.py"])
def test_routing_modules_name_no_format(module: str) -> None:
    source = (SRC / module).read_text()
    assert FORMAT_NAME.findall(source) == []


def _acme_call(method: str, path: str, query: str) -> Call | None:
    if method == "POST" and path.startswith("/v1/acme/engines/") and path.endswith(":complete"):
        return Call("pipeline", query)
    return None


ACME = Ingress(
    paths=("/v1/acme/chat",),
    grammar=Grammar(_acme_call, "POST /v1/acme/engines/{engine}:complete"),
    api=ApiSpace(("/v1/acme", "/v1/models"), path_mark=lambda path: path.startswith("/v1/acme"), header_marks=("acme-version",)),
)


def test_a_new_formats_declaration_is_routed_without_touching_routes() -> None:
    routes = Routes([*ingresses(), ("acme", ACME)])
    assert routes.route("POST", "/v1/acme/chat", "", {}) == ("pipeline", "acme", None, "", False)
    assert routes.route("POST", "/v1/acme/engines/e1:complete", "n=1", {}) == ("pipeline", "acme", None, "n=1", False)
    assert routes.route("GET", "/v1/acme/jobs/7", "", {})[:2] == ("passthrough", "acme")
    assert routes.route("GET", "/v1/models/acme-1", "", {"acme-version": "1"})[:2] == ("passthrough", "acme")
    assert routes.route("GET", "/v1/models/gpt-4o", "", {})[:2] == ("passthrough", "openai")  # unmarked: still OpenAI's
    refused = routes.route("POST", "/v1/acme/../admin", "", {})
    assert refused.handler == "refused" and refused.wire == "acme"  # its error shape
    missing = routes.route("POST", "/v1/nothing/x", "", {})
    assert missing.error is not None and missing.error.status == 404 and missing.wire == "openai"
    assert "POST /v1/acme/chat" in missing.error.message and "/v1/acme/engines/{engine}:complete" in missing.error.message
    assert "acme: /v1/acme, /v1/models" in missing.error.message
    # The tables in use are untouched by a table built for another set of formats.
    assert "/v1/acme/chat" not in PIPELINE_ROUTES


SHARED_PATHS = [
    ("GET", "/v1/models/claude-haiku-4-5", ANTHROPIC_SDK, "anthropic"),
    ("GET", "/v1/models/gpt-4o", {}, "openai"),
    ("POST", "/v1/files", ANTHROPIC_SDK, "anthropic"),
    ("POST", "/v1/files", {}, "openai"),
    ("POST", "/v1/models/text-embedding-004:embedContent", ANTHROPIC_SDK, "gemini"),  # a path mark beats a header
    ("POST", "/v1/messages/count_tokens", {}, "anthropic"),  # one vendor's path: no mark needed
    ("GET", "/api/tags", ANTHROPIC_SDK, "ollama"),
]


@pytest.mark.parametrize(("method", "path", "headers", "vendor"), SHARED_PATHS, ids=[f"{m} {p} {v}" for m, p, _, v in SHARED_PATHS])
def test_a_path_goes_to_the_vendor_whose_sdk_marked_it(method: str, path: str, headers: dict[str, str], vendor: str) -> None:
    assert route(method, path, "", headers)[:2] == ("passthrough", vendor)


def test_the_gemini_grammar_and_its_key_in_the_query() -> None:
    generate = route("POST", "/v1beta/models/gemini-2.0-flash:streamGenerateContent", "alt=sse&key=AIza-k&x=1", {})
    assert generate == ("pipeline", "gemini", None, "x=1", False)
    assert route("POST", "/v1/models/gemini-2.0-flash:countTokens", "key=AIza-k", {})[:2] == ("count_tokens", "gemini")
    listing = route("GET", "/v1beta/models", "key=AIza-k&pageSize=5", {})
    assert (listing.handler, listing.wire, listing.query) == ("passthrough", "gemini", "pageSize=5")
    assert query_credential("pageSize=5&key=AIza-k") == ("x-goog-api-key", "AIza-k")  # counts as the SDK's header
    assert query_credential("monkey=1") is None
    unframed = route("POST", "/v1beta/models/gemini-2.0-flash:streamGenerateContent", "", {})
    assert unframed.error is not None and "alt=sse" in unframed.error.message and unframed.wire == "gemini"


def test_organisation_paths_pass_with_the_clients_key_only() -> None:
    assert route("GET", "/v1/organizations/users", "", ANTHROPIC_SDK) == ("passthrough", "anthropic", None, "", True)
    assert route("GET", "/v1/organization/projects", "", {}) == ("passthrough", "openai", None, "", True)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/responses", "/v1beta/models/x:generateContent", "/api/chat", "/v1/nothing"])
def test_options_to_a_proxy_route_is_a_preflight_answered_here(path: str) -> None:
    assert route("OPTIONS", path, "", {"origin": "http://localhost:3000"}).handler == "preflight"


def test_trooper_pages_are_its_own() -> None:
    assert route("GET", "/v1/models", "", {}).handler == "admin"
    assert route("OPTIONS", "/dashboard", "", {}).handler == "admin"
    assert route("GET", "/health", "", {}).handler == "admin"
