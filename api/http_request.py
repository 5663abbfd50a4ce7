"""Reading a GraphQL request over HTTP: the response media type, GraphiQL or not, the parameters, and the
one-error refusal (``Problem``) of a request that cannot run at all."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request

from analytics.ingest.events import EventIn

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


class Problem(Exception):
    """The request cannot be run at all: an HTTP status and one error (code in extensions)."""

    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


@dataclass
class Params:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None
    document_id: str | None = None
    events: list[EventIn] | None = None


def _accepted(header: str) -> list[tuple[str, float]]:
    """Media ranges by preference (q descending, order kept among equals)."""
    ranges = []
    for position, part in enumerate(header.split(",")):
        media, *options = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            ranges.append((media.lower(), quality, position))
    ranges.sort(key=lambda r: (-r[1], r[2]))
    return [(media, quality) for media, quality, _ in ranges]


def response_media(request: Request) -> str | None:
    header = request.headers.get("accept", "").strip()
    if not header:
        return JSON
    for media, _ in _accepted(header):
        if media == GRAPHQL_RESPONSE:
            return GRAPHQL_RESPONSE
        if media in (JSON, "application/*", "*/*"):
            return JSON
    return None


def wants_graphiql(request: Request) -> bool:
    """A browser opening /graphql: GET, no GraphQL parameters, text/html preferred to any JSON type."""
    graphql_params = ("query", "extensions", "documentId")
    if request.method != "GET" or any(p in request.query_params for p in graphql_params):
        return False
    for media, _ in _accepted(request.headers.get("accept", "")):
        if media == "text/html":
            return True
        if media in (JSON, GRAPHQL_RESPONSE, "application/*", "*/*"):
            return False
    return False


def too_deep(name: str) -> Problem:
    """JSON nested past the interpreter's recursion limit (about 1,000 levels): refused whole, before
    anything reads it, as no GraphQL argument needs such depth."""
    return Problem(400, f"{name}: JSON is nested too deeply (at most about 900 levels)", "BAD_REQUEST")


def json_param(raw: str | None, name: str) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise Problem(400, f"{name}: is not valid JSON", "BAD_REQUEST") from None
    except RecursionError:
        raise too_deep(name) from None
    if value is not None and not isinstance(value, dict):
        raise Problem(400, f"{name}: must be a JSON object", "BAD_REQUEST")
    return value


def loose_params(body: bytes) -> Params:
    """Bodies msgspec refuses but JSON allows (lone surrogate escapes), through the standard library."""
    try:
        data = json.loads(body)
    except ValueError:
        raise Problem(400, "body: is not valid JSON", "BAD_REQUEST") from None
    except RecursionError:
        raise too_deep("body") from None
    if not isinstance(data, dict):
        raise Problem(400, "body: must be a JSON object", "BAD_REQUEST")
    for name, kind in (("query", str), ("variables", dict), ("operationName", str), ("extensions", dict),
                       ("documentId", str)):
        if data.get(name) is not None and not isinstance(data[name], kind):
            raise Problem(400, f"{name}: must be {'a string' if kind is str else 'an object'}", "BAD_REQUEST")
    return Params(data.get("query"), data.get("variables"), data.get("operationName"), data.get("extensions"),
                  data.get("documentId"))
