"""What each wire format serves at Trooper's door, declared by its codec module as `INGRESS`;
`routes.py` builds its tables from these declarations once, and names no format:

- `paths`: the POST paths whose body is a request in this format, run through the pipeline;
- `grammar`: for a format that names the model and the verb in the URL (Gemini's
  `/v1beta/models/{model}:generateContent`), what a request there is (its URLs lie within
  an API space's first segment: `/v1/`, `/v1beta/`...);
- `api`: the vendor's API space, for the calls passed through untranslated to its providers
  (the codec whose NAME is the vendor's provider kind declares it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, NamedTuple
from urllib.parse import parse_qsl, urlencode

from trooper.conversation import ApiError, Conversation

# A model name that may go into a URL path: Gemini's (gemini-2.0-flash, gemini-2.5-pro-exp-03-25).
URL_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


class Call(NamedTuple):
    """What a URL grammar makes of a request: where it goes, with which query, or why not."""

    handler: Literal["pipeline", "count_tokens", "passthrough", "refused"]
    query: str = ""  # the query string to forward (a format's own parameters taken out)
    error: ApiError | None = None  # refused: the client's mistake, in the format's error shape


class Grammar(NamedTuple):
    """A URL that names the model and the verb."""

    call: Callable[[str, str, str], Call | None]  # (method, path, query) -> the call; None: not one of its URLs
    described: str  # its URL forms, for the 404 that lists the routes
    decode_count: Callable[[bytes, str], Conversation] | None = None  # a `count_tokens` call's body and path


class ListedModel(NamedTuple):
    """A model Trooper can answer with, for its own GET /v1/models."""

    id: str
    provider: str  # the name of the first provider that answers with it


class ApiSpace(NamedTuple):
    """A vendor's API, by path prefix (a prefix covers itself, what is below it, and `prefix:verb`).
    Paths two vendors share (`/v1/models`, `/v1/files`) go to the vendor whose SDK's mark the
    request carries: a path only its SDKs send, then a header only they send; else to the
    vendor that declares no mark."""

    paths: tuple[str, ...]
    organisation: tuple[str, ...] = ()  # organisation, admin and key management: never with the operator's key
    path_mark: Callable[[str], bool] | None = None  # a path only this vendor's SDKs send
    header_marks: tuple[str, ...] = ()  # headers (lower case) only this vendor's SDKs send
    key_prefixes: tuple[str, ...] = ()  # how its keys begin: a key only ever goes to its own vendor
    key_header: str = ""  # a header only its SDKs put a key in (a key sent as `key_param` counts as it)
    key_param: str = ""  # a query parameter its REST callers put their key in: never forwarded
    model_list: Callable[[Sequence[ListedModel]], bytes] | None = None  # Trooper's models in its SDK's list shape

    @property
    def marked(self) -> bool:
        return self.path_mark is not None or bool(self.header_marks)

    def sent_by_path(self, path: str) -> bool:
        return self.path_mark is not None and self.path_mark(path)

    def sent_by_headers(self, headers: Mapping[str, str]) -> bool:
        return any(name in headers for name in self.header_marks)


class Ingress(NamedTuple):
    paths: tuple[str, ...] = ()  # POST paths served in the pipeline in this format
    vendor: str = ""  # the vendor whose API this format is, when not the one it is named after
    grammar: Grammar | None = None
    api: ApiSpace | None = None


def without(query: str, names: tuple[str, ...]) -> str:
    """`query` without the parameters `names` (the rest re-encoded in their order)."""
    if not query:
        return ""
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in names]
    return urlencode(kept)
