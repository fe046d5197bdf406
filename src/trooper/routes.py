"""Which way a request goes, decided from its method, path and headers alone, before any
upstream is called:

- the pipeline, in the client's wire format: the POST paths each format declares, and the
  URLs of a format that names the model and verb in the path (its grammar);
- a token count a format's grammar asks for;
- a pass-through to a provider of the vendor whose API space the path is, and only to one:
  a path no vendor has is a 404 naming the routes there are;
- Trooper's own pages (health, models, sessions, dashboard...);
- answered here: a CORS preflight (OPTIONS) to a proxy route, which never reaches a provider;
- refused: a path that escapes the API prefix once normalised (`/v1/../admin`, `%2e%2e`,
  doubly encoded or odd characters), a model name unfit for a URL. Organisation and key
  management endpoints pass only with the client's own key, never the operator's.

Every format's paths, grammar and API space are declared by its codec (`formats/ingress.py`);
the tables here are built from those declarations once, at import, and name no format.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal, NamedTuple
from urllib.parse import parse_qsl

from trooper.conversation import ApiError
from trooper.formats import ingresses
from trooper.formats.ingress import ApiSpace, Ingress, ListedModel, without

# Any model name a client may send in a body: letters, digits and . _ - : / @ + [ ] (Ollama's
# qwen2.5:3b, OpenRouter's meta-llama/llama-3, fine-tunes' ft:gpt-4o:org::id, Claude Code's
# sonnet[1m]); no "..", no space, quote, control character or anything else a URL or a header
# would read differently.
BODY_MODEL = re.compile(r"[A-Za-z0-9._:/@+\[\]-]{1,256}\Z")
# A path segment after percent-decoding: RFC 3986's unreserved and sub-delims, ":" and "@".
# A "%" left after decoding means the client encoded twice: refused, never decoded again.
_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+\Z")
MODEL_LIST = "/v1/models"  # a GET there is Trooper's own list (app.py), in the asking SDK's shape

Handler = Literal["pipeline", "count_tokens", "passthrough", "admin", "refused", "preflight"]


class Target(NamedTuple):
    """Where a request goes, and what to tell the client if nowhere."""

    handler: Handler
    wire: str = ""  # the client's wire format, or the pass-through's vendor: errors are in its shape
    error: ApiError | None = None
    query: str = ""  # the query string to forward (a format's own parameters and the key taken out)
    client_key_only: bool = False  # organisation endpoints: the client's own key or nothing


_ADMIN = Target("admin")
_PREFLIGHT = Target("preflight")
Space = tuple[str, ApiSpace]  # the vendor (its format's name) and its API space


class Routes:
    """The routing tables, built once from the formats' declarations (`INGRESS`)."""

    def __init__(self, declared: Iterable[tuple[str, Ingress]]) -> None:
        declared = list(declared)
        self.pipeline = {path: name for name, ingress in declared for path in ingress.paths}
        self.grammars = tuple((name, ingress.grammar) for name, ingress in declared if ingress.grammar is not None)
        self.spaces: tuple[Space, ...] = tuple((name, ingress.api) for name, ingress in declared if ingress.api is not None)
        self._covering = tuple((_prefixes(space.paths), (name, space)) for name, space in self.spaces)
        self._organisations = tuple((_prefixes(space.organisation), name) for name, space in self.spaces if space.organisation)
        # Paths that are some vendor's API space: anything below them is a pass-through or a 404.
        self.api_prefixes = tuple(sorted({"/" + path.split("/")[1] + "/" for _, space in self.spaces for path in space.paths}))
        self._key_headers = {space.key_param: space.key_header for _, space in self.spaces if space.key_param}
        self.key_params = tuple(self._key_headers)
        self._key_markers = tuple(param + "=" for param in self.key_params)
        self.listing = self._listing()
        # Trooper's own model list, for an SDK that leaves no mark: the unmarked vendor's shape.
        self._model_lists = [space.model_list for _, space in self.spaces if space.model_list is not None]
        self._unmarked_list = next((s.model_list for _, s in self.spaces if s.model_list is not None and not s.marked), None)

    def route(self, method: str, path: str, query: str, headers: Mapping[str, str]) -> Target:
        if method == "POST" and path in self.pipeline:
            return Target("pipeline", self.pipeline[path], query=query)
        api = path.startswith(self.api_prefixes)
        if method == "OPTIONS" and (api or path in self.pipeline):
            return _PREFLIGHT
        if not api or (path == MODEL_LIST and method == "GET"):
            return _ADMIN
        problem = path_problem(path)
        if problem:
            return Target("refused", self.error_shape(path, headers), ApiError(400, "invalid_request", problem))
        for name, grammar in self.grammars:
            call = grammar.call(method, path, query)
            if call is not None:
                return Target(call.handler, name, call.error, call.query)
        for organisation, name in self._organisations:
            if organisation.match(path):
                return Target("passthrough", name, query=query, client_key_only=True)
        vendor = self.vendor(path, headers)
        if vendor is None:
            message = f"{method} {path} is not a route Trooper serves. {self.listing}"
            return Target("refused", self.error_shape(path, headers), ApiError(404, "not_found", message))
        name, space = vendor
        return Target("passthrough", name, query=without(query, (space.key_param,)) if space.key_param else query)

    def vendor(self, path: str, headers: Mapping[str, str]) -> Space | None:
        """The vendor whose API `path` is: the only one whose space has it, or, of those that
        share it, the one whose SDK marked the request. None when it is no vendor's."""
        having = [space for covered, space in self._covering if covered.match(path)]
        if len(having) < 2:
            return having[0] if having else None
        return _marked(having, path, headers)

    def error_shape(self, path: str, headers: Mapping[str, str]) -> str:
        """Whose error shape a refusal is written in, before the path is known to be anyone's."""
        marked = _marked(self.spaces, path, headers)
        return (marked or self.spaces[0])[0]

    def model_list(self, headers: Mapping[str, str]) -> Callable[[Sequence[ListedModel]], bytes]:
        """How Trooper's own list of models (GET /v1/models, a path vendors share) is written
        for the SDK asking."""
        vendor = self.vendor(MODEL_LIST, headers)
        chosen = vendor[1].model_list if vendor is not None else None
        return chosen or self._unmarked_list or self._model_lists[0]

    def query_credential(self, query: str) -> tuple[str, str] | None:
        """A client's key sent in the query (`?key=`: Gemini's REST callers; its SDKs send a
        header): (the header it counts as, the key)."""
        if not query or not any(marker in query for marker in self._key_markers):
            return None
        for name, value in parse_qsl(query):
            header = self._key_headers.get(name)
            if header is not None:
                return header, value
        return None

    def query_key(self, query: str) -> str:
        credential = self.query_credential(query)
        return credential[1] if credential is not None else ""

    def _listing(self) -> str:
        pipeline = ", ".join(f"POST {path}" for path in self.pipeline)
        grammars = "; ".join(grammar.described for _, grammar in self.grammars)
        spaces = "; ".join(f"{name}: {', '.join(space.paths)}" for name, space in self.spaces)
        return f"Routes: {'; '.join(filter(None, (pipeline, grammars)))}; passed through to the vendor's provider: {spaces}."


def _prefixes(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    """Matches what `prefixes` cover: each itself, what is below it, and `prefix:verb`."""
    return re.compile(f"(?:{'|'.join(map(re.escape, prefixes))})(?:[/:]|\\Z)")


def _marked(spaces: Sequence[Space], path: str, headers: Mapping[str, str]) -> Space | None:
    """Of `spaces`, the one whose SDK marked the request: by a path only it sends, then by a
    header only it sends; else the one whose SDKs leave no mark."""
    return (
        next((space for space in spaces if space[1].sent_by_path(path)), None)
        or next((space for space in spaces if space[1].sent_by_headers(headers)), None)
        or next((space for space in spaces if not space[1].marked), None)
    )


def path_problem(path: str) -> str:
    """Why a path can't be forwarded as it is, or "": dot segments, empty segments, characters
    outside a path segment's set (a "%" left after decoding: encoded twice)."""
    for segment in path.split("/")[1:]:
        if segment in (".", ".."):
            return f"path {path[:120]!r} has a '{segment}' segment: it would leave the API prefix"
        if not segment or not _SEGMENT.match(segment):
            return f"path {path[:120]!r} is not a plain API path (empty segment, or characters that need encoding)"
    return ""


ROUTES = Routes(ingresses())
PIPELINE_ROUTES = ROUTES.pipeline  # path -> format: what app.py looks up first, on every request
route = ROUTES.route
query_key = ROUTES.query_key
query_credential = ROUTES.query_credential
model_list = ROUTES.model_list


def without_key(query: str) -> str:
    return without(query, ROUTES.key_params)
