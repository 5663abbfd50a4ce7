"""``/graphql`` over HTTP, as the GraphQL-over-HTTP specification and Apollo's clients speak it.

One request, in order:

1. GET from a browser (``text/html`` accepted, no JSON media type) gets GraphiQL.
2. The response media type is negotiated (``application/graphql-response+json`` when accepted,
   else ``application/json``; 406 when neither is acceptable).
3. The parameters are read: GET query string, or a POST ``application/json`` body of at most
   ``ANALYTICS_MAX_BODY_BYTES`` (413 beyond it, 415 for another content type, 400 for bad JSON);
   a beacon (``?key=`` with a publishable key, no key header) may send that JSON as ``text/plain``.
   The ``track`` events variable is decoded straight into events (api.ingest.fast_path).
4. The API key is resolved; the text to run comes from the query, an APQ hash or a trusted
   document id (api.persisted.store), under the tenant's allowlist.
5. The document is parsed and validated once per text with the depth, alias and token limits
   (api.documents); the operation is picked (a mutation over GET is 405); its cost is checked.
6. The key's token bucket is charged: cost for reads, one token per event for ``track`` (429).
7. Strawberry executes the prepared document (the known ``track`` mutation skips execution:
   api.ingest.fast_track). Internal errors are logged with the request id and
   masked; user errors keep their message and code.
8. Request errors of a well-formed request (nothing executed: a document that does not parse or
   validate, no such operation, a limit exceeded, variables that do not coerce (BAD_USER_INPUT),
   a persisted-query refusal) are 200 under plain JSON and 4xx under graphql-response+json (400;
   404 for a hash or document id the server does not know). A request that is not well-formed
   (bad JSON, parameters of the wrong type, no query, a malformed or mismatched hash) is 4xx
   under both. GET answers carry an ETag over the body and Cache-Control; a matching
   If-None-Match gets 304.
9. CORS (api.cors): OPTIONS is answered as a preflight; every other answer gets ``Vary: Origin``
   and, when the resolved key lets the request's origin read it, ``Access-Control-Allow-Origin``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import Response

from analytics import observability
from analytics.db import storage_unavailable
from analytics.ingest.service import StalePrincipal
from api import cors
from api.answers import Remembered
from api.auth import api_key_from, authenticate, beacon_key, header_key
from api.context import Context, Resources
from api.cost import operation_cost
from api.documents import coded, fragments_of, is_request_error, with_code
from api.http_request import (
    GRAPHQL_RESPONSE,
    JSON,
    Params,
    Problem,
    json_param,
    loose_params,
    response_media,
    too_deep,
    wants_graphiql,
)
from api.ingest.fast_path import ENVELOPE_DECODER, decode_variables
from api.ingest.fast_track import answer_track, track_plan
from api.persisted.store import RequestRefused
from api.ratelimit import Bucket, Verdict
from api.schema import schema
from api.shared_reads import read_key
from api.storable import unstorable_argument

log = logging.getLogger("api.graphql")

INTERNAL = "INTERNAL_SERVER_ERROR"
RETRY_AFTER_SECONDS = 5


class GraphQLEndpoint:
    """The ASGI app at /graphql (Starlette route)."""

    def __init__(self, *, fast_track: bool = True) -> None:
        self.resources: Resources | None = None
        self.fast_track = fast_track

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        if request.method == "OPTIONS":
            response = cors.preflight(request)
        else:
            response = await self.handle(request)
            assert self.resources is not None
            await cors.grant(request, response, self.resources.engine, api_key_from(request))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        resources = self.resources
        assert resources is not None, "the app's lifespan did not run"
        request_id = observability.request_id.get() or uuid.uuid4().hex
        accepted = response_media(request)
        media = accepted or JSON
        try:
            if request.method not in ("GET", "POST"):
                raise Problem(405, "use GET (queries) or POST", "METHOD_NOT_ALLOWED",
                              {"Allow": "GET, POST, OPTIONS"})
            if wants_graphiql(request) and resources.settings.limits.introspection:
                from api.graphiql import graphiql_page

                return graphiql_page(request)
            if accepted is None:
                raise Problem(406, f"Accept: send {GRAPHQL_RESPONSE} or {JSON}", "NOT_ACCEPTABLE")
            params = await self.read_params(request, resources)
            return await self.run(request, resources, params, media, request_id)
        except Problem as problem:
            return self.respond({"errors": [{"message": problem.message,
                                             "extensions": {"code": problem.code}}]},
                                problem.status, media, problem.headers)
        except Exception as exc:
            if storage_unavailable(exc):
                return self.unavailable(media, request_id)
            log.exception("internal error outside execution (request %s)", request_id)
            return self.respond({"errors": [{"message": "Internal server error", "extensions": {
                "code": INTERNAL, "requestId": request_id}}]}, 500, media)

    async def read_params(self, request: Request, resources: Resources) -> Params:
        if request.method == "GET":
            q = request.query_params
            return Params(q.get("query"), json_param(q.get("variables"), "variables"),
                          q.get("operationName") or None, json_param(q.get("extensions"), "extensions"),
                          q.get("documentId") or None)
        content_type = request.headers.get("content-type", "")
        media, *options = (piece.strip().lower() for piece in content_type.split(";"))
        if media != JSON and not (media == "text/plain" and beacon_key(request) and not header_key(request)):
            raise Problem(415, f"Content-Type: send {JSON} (got {content_type or 'none'})",
                          "UNSUPPORTED_MEDIA_TYPE")
        for option in options:
            name, _, value = option.partition("=")
            if name == "charset" and value.strip('"') not in ("utf-8", "utf8"):
                raise Problem(415, "Content-Type: the charset must be utf-8", "UNSUPPORTED_MEDIA_TYPE")
        body = await self._read_limited(request, resources.settings.max_body_bytes)
        try:
            envelope = ENVELOPE_DECODER.decode(body)
        except msgspec.ValidationError as exc:
            raise Problem(400, f"body: {exc}", "BAD_REQUEST") from None
        except msgspec.DecodeError:
            return loose_params(body)
        except RecursionError:
            raise too_deep("body") from None
        try:
            # The fast path reads the document from the same cache the execution uses (one parse).
            document = (resources.documents.get(envelope.query).node
                        if self.fast_track and envelope.query is not None else None)
            variables, events = decode_variables(envelope, document)
        except msgspec.DecodeError:  # pragma: no cover - Raw values are valid JSON by construction
            raise Problem(400, "variables: is not valid JSON", "BAD_REQUEST") from None
        except RecursionError:
            raise too_deep("variables") from None
        return Params(envelope.query, variables, envelope.operationName, envelope.extensions,
                      envelope.documentId, events)

    async def _read_limited(self, request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise Problem(413, f"request body is {declared} bytes; the limit is {limit} bytes. Nothing "
                               "was stored.", "PAYLOAD_TOO_LARGE")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Problem(413, f"request body exceeds the limit of {limit} bytes. Nothing was "
                                   "stored.", "PAYLOAD_TOO_LARGE")
            chunks.append(chunk)
        return b"".join(chunks)

    async def run(self, request: Request, resources: Resources, params: Params, media: str,
                  request_id: str, *, kept_keys: bool = True, charged: str | None = None) -> Response:
        """``kept_keys=False``: the key is looked up again (track's retry after its kept key changed);
        ``charged``: who that first attempt already charged the rate limiter (not charged twice)."""
        principal, key_problem = await authenticate(request, resources.principals,
                                                    ingest=kept_keys and params.events is not None)
        try:
            resolved = await resources.persisted.resolve(params.query, params.extensions,
                                                         params.document_id, principal)
        except RequestRefused as refused:
            headers = {"Cache-Control": "private, no-cache, must-revalidate"}
            if refused.malformed:
                return self.respond({"errors": [refused.error.formatted]}, refused.status, media, headers)
            return self.request_error([refused.error], media, refused.status, headers)
        document = resources.documents.get(resolved.text)
        if document.errors:
            return self.request_error(list(document.errors), media)
        if resolved.remember is not None and principal is not None:
            await resources.persisted.remember(principal, resolved.remember, resolved.text)
        operation = document.operation(params.operation_name)
        if isinstance(operation, GraphQLError):
            return self.request_error([operation], media)
        request.state.graphql_operation = operation.name.value if operation.name else "-"
        request.state.track = cors.track_only(operation)
        if request.method == "GET" and operation.operation is not OperationType.QUERY:
            raise Problem(405, f"{operation.operation.value}s must be sent with POST", "METHOD_NOT_ALLOWED",
                          {"Allow": "POST"})
        assert document.node is not None
        if not request.state.track:
            unstorable = unstorable_argument(document, operation, params.variables)
            if unstorable is not None:
                return self.request_error([unstorable], media)
        limits = resources.settings.limits
        timezone = principal.timezone if principal else ZoneInfo("UTC")
        cost = operation_cost(schema._schema, document.node, operation, params.variables, timezone,
                              text=resolved.text)
        if cost > limits.max_cost:
            return self.request_error([coded(
                f"cost: the operation costs {cost} (fields times page sizes); the limit is "
                f"{limits.max_cost}. Ask for fewer items (first/limit) or fewer fields.",
                "COST_LIMIT_EXCEEDED", cost=cost, limit=limits.max_cost)], media)
        bucket, tokens = Bucket.READ, max(1, cost)
        if operation.operation is OperationType.MUTATION:
            bucket, tokens = Bucket.INGEST, ingest_weight(document.node, operation, params)
        client = request.client.host if request.client else "-"
        who = f"key:{principal.key_id}" if principal else f"ip:{client}"
        verdict = Verdict(True) if who == charged else await resources.limiter.spend(bucket, who, tokens)
        if not verdict.allowed:
            raise Problem(429, f"rate limit: this key's {bucket.value} budget is spent; retry in "
                               f"{verdict.retry_after} s", "RATE_LIMITED",
                          {"Retry-After": str(verdict.retry_after)})

        remembered = None
        if request.method == "GET" and principal is not None:
            remembered = await resources.answers.recall(principal, media, resolved.text,
                                                        params.operation_name, params.variables)
            if remembered and remembered.etag is not None and remembered.etag in _if_none_match(request):
                return self.not_modified(remembered.etag, resources)  # unchanged data: nothing runs
        context = Context(request=request, resources=resources, principal=principal, key_problem=key_problem,
                          decoded_events=params.events, document=document.node)
        plan = track_plan(operation) if params.events is not None else None

        async def execute() -> tuple[dict[str, Any] | None, list[GraphQLError]]:
            try:
                if plan is not None:  # the known track mutation, no executor (api.ingest.fast_track)
                    return await answer_track(plan, context)
                result = await schema.execute(resolved.text, variable_values=params.variables,
                                              context_value=context, operation_name=params.operation_name)
                return result.data, list(result.errors or ())
            finally:
                await context.close()  # the resolvers' shared read transaction

        shared = None
        if (operation.operation is OperationType.QUERY and principal is not None
                and resources.settings.shared_reads and not _meta_only(operation)):
            version = remembered.version if remembered else await resources.answers.version(
                principal.tenant_id)
            if version is not None:  # Redis cannot say: the read runs on its own
                shared = read_key(principal, resolved.text, params.operation_name, params.variables, version)
        data, raised = await resources.shared.run(shared, execute)
        stale = next((e.original_error for e in raised if isinstance(e.original_error, StalePrincipal)), None)
        if stale is not None:  # track's write found its kept key changed (api.principals): look it up
            resources.principals.forget_for_ingest(request.state.vouched)
            return await self.run(request, resources, params, media, request_id, kept_keys=False,
                                  charged=who)
        if any(e.original_error and storage_unavailable(e.original_error) for e in raised):
            return self.unavailable(media, request_id)  # nothing was acknowledged: the client retries
        errors = [self.mask(error, request_id, resources) for error in raised]
        if is_request_error(data, raised):  # variables that do not coerce
            return self.request_error([with_code(e, "BAD_USER_INPUT") for e in errors], media)
        body: dict[str, Any] = {"data": data}
        if errors:
            body = {"errors": [e.formatted for e in errors], "data": data}
        if request.method == "GET":
            return await self.cacheable(request, body, media, resources, remembered)
        return self.respond(body, 200, media)

    def unavailable(self, media: str, request_id: str) -> Response:
        """PostgreSQL cannot be reached: 503 with Retry-After, so SDKs and relays send again later."""
        log.warning("storage unavailable (request %s)", request_id)
        message = f"the database is unavailable; nothing was stored or read; retry in {RETRY_AFTER_SECONDS} s"
        error = {"message": message, "extensions": {"code": "STORAGE_UNAVAILABLE", "requestId": request_id}}
        return self.respond({"errors": [error]}, 503, media, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    def mask(self, error: GraphQLError, request_id: str, resources: Resources) -> GraphQLError:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            return error
        cancelled = isinstance(original, DBAPIError) and getattr(original.orig, "sqlstate", None) == "57014"
        if cancelled:
            timeout = resources.settings.statement_timeout_ms
            return GraphQLError(
                f"the query ran longer than the statement timeout of {timeout} ms; ask for a shorter "
                "range or fewer fields", error.nodes, path=error.path,
                extensions={"code": "QUERY_TIMEOUT", "limit": timeout, "requestId": request_id})
        log.error("internal error in %s (request %s)", ".".join(map(str, error.path or ())), request_id,
                  exc_info=original)
        return GraphQLError("Internal server error", error.nodes, path=error.path,
                            extensions={"code": INTERNAL, "requestId": request_id})

    def request_error(self, errors: list[GraphQLError], media: str, status: int = 400,
                      headers: dict[str, str] | None = None) -> Response:
        """Nothing ran: ``status`` (4xx) under graphql-response+json; 200 under application/json."""
        if media != GRAPHQL_RESPONSE:
            status = 200
        if any((e.extensions or {}).get("code") == INTERNAL for e in errors):
            status = 500
        return self.respond({"errors": [e.formatted for e in errors]}, status, media, headers)

    def respond(self, body: dict[str, Any], status: int, media: str,
                headers: dict[str, str] | None = None) -> Response:
        return Response(msgspec.json.encode(body), status_code=status, headers=headers,
                        media_type=f"{media}; charset=utf-8")

    async def cacheable(self, request: Request, body: dict[str, Any], media: str, resources: Resources,
                        remembered: Remembered | None) -> Response:
        """GET answers: an ETag over the exact body (it changes when the numbers change), and 304.
        An answer without errors is remembered under the data version read before it ran (api.answers)."""
        content = msgspec.json.encode(body)
        etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
        if remembered is not None and "errors" not in body:
            await resources.answers.remember(remembered, etag)
        matches = _if_none_match(request)
        if etag in matches or "*" in matches:
            return self.not_modified(etag, resources)
        return Response(content, status_code=200, headers=self.cache_headers(etag, resources),
                        media_type=f"{media}; charset=utf-8")

    def not_modified(self, etag: str, resources: Resources) -> Response:
        return Response(status_code=304, headers=self.cache_headers(etag, resources))

    def cache_headers(self, etag: str, resources: Resources) -> dict[str, str]:
        return {"ETag": etag, "Cache-Control": resources.settings.limits.cache_control,
                "Vary": "Accept, Authorization, X-API-Key"}


def _meta_only(operation: OperationDefinitionNode) -> bool:
    """Whether the operation selects only ``__typename``/``__schema``/``__type`` at its root: it reads
    no tenant data, so sharing its execution would save nothing but cost a Redis round trip."""
    return all(isinstance(s, FieldNode) and s.name.value.startswith("__")
               for s in operation.selection_set.selections)


def _if_none_match(request: Request) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")]


def ingest_weight(document: DocumentNode, operation: OperationDefinitionNode, params: Params) -> int:
    """Tokens a mutation spends: one per event sent to ``track`` (at least 1), fragments included
    (each fragment counted once however often it is spread, then multiplied)."""
    if params.events is not None:
        return max(1, len(params.events))
    fragments = fragments_of(document)
    memo: dict[str, int] = {}

    def events_in(selection_set: SelectionSetNode, visiting: frozenset[str]) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode) and selection.name.value == "track":
                total += sum(_event_count(a.value, params) for a in selection.arguments or ()
                             if a.name.value == "events")
            elif isinstance(selection, InlineFragmentNode):
                total += events_in(selection.selection_set, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in memo and name in fragments and name not in visiting:
                    memo[name] = events_in(fragments[name].selection_set, visiting | {name})
                total += memo.get(name, 0)
        return total

    return max(1, events_in(operation.selection_set, frozenset()))


def _event_count(value: Any, params: Params) -> int:
    if isinstance(value, ListValueNode):
        return len(value.values)
    if isinstance(value, VariableNode):
        given = (params.variables or {}).get(value.name.value)
        return len(given) if isinstance(given, list) else 1
    return 1


__all__ = ["GraphQLEndpoint"]
