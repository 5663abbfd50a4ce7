"""The GraphQL HTTP view: API-key auth, the body limit, and the fast ``track`` decoder."""

from __future__ import annotations

from typing import Any

import msgspec
from cross_web import HTTPException
from cross_web.request._starlette import StarletteRequestAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData

from analytics.tenants.service import resolve_key
from api.context import Context, Resources
from api.ingest.fast_path import ENVELOPE_DECODER, decode_variables


def api_key_from(request: Request | WebSocket) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


class PayloadTooLarge(HTTPException):
    pass


class RequestAdapter(StarletteRequestAdapter):
    """Strawberry's Starlette adapter, with the request it wraps made reachable."""

    @property
    def request(self) -> Request:
        return self._request


class AnalyticsGraphQL(GraphQL[Context, None]):
    request_adapter_class = RequestAdapter
    def __init__(self, resources: Resources, *, fast_track: bool = True, **kwargs: Any) -> None:
        from api.schema import schema

        super().__init__(schema, **kwargs)
        self.resources = resources
        self.fast_track = fast_track

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        raw_key = api_key_from(request)
        principal, problem = None, None
        if raw_key:
            principal = await resolve_key(self.resources.engine, raw_key)
            if principal is None:
                problem = "the API key is unknown or revoked"
        else:
            problem = "an API key is required: send Authorization: Bearer <key> or X-API-Key"
        return Context(request=request, resources=self.resources, principal=principal,  # type: ignore[arg-type]
                       key_problem=problem)

    async def render_graphql_ide(self, request: Request) -> Response:
        from api.graphiql import graphiql_page

        return graphiql_page(request)

    async def _read_limited(self, request: Request) -> bytes:
        limit = self.resources.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(413, f"request body is {declared} bytes; the limit is {limit} "
                                       "bytes. Nothing was stored.")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(413, f"request body exceeds the limit of {limit} bytes. "
                                           "Nothing was stored.")
            chunks.append(chunk)
        body = b"".join(chunks)
        request._body = body
        return body

    async def parse_http_body(self, request_adapter: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        request: Request = request_adapter.request
        if request.method != "POST":
            return await super().parse_http_body(request_adapter)
        body = await self._read_limited(request)
        if "application/json" not in (request.headers.get("content-type") or ""):
            return await super().parse_http_body(request_adapter)
        try:
            envelope = ENVELOPE_DECODER.decode(body)
        except msgspec.DecodeError:
            return await super().parse_http_body(request_adapter)  # batches and bad JSON: as usual
        variables, decoded = decode_variables(envelope, fast=self.fast_track)
        request.state.decoded_events = decoded
        return GraphQLRequestData(query=envelope.query, variables=variables,
                                  operation_name=envelope.operationName,
                                  extensions=envelope.extensions, protocol="http")

    async def execute_operation(self, request: Request, request_adapter: Any, request_data: Any,
                                context: Context, root_value: Any, sub_response: Any) -> Any:
        context.decoded_events = getattr(request.state, "decoded_events", None)
        return await super().execute_operation(request, request_adapter, request_data, context,
                                               root_value, sub_response)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            request = Request(scope=scope, receive=receive)
            try:
                response = await self.run(request)
            except HTTPException as exc:
                code = "PAYLOAD_TOO_LARGE" if isinstance(exc, PayloadTooLarge) else "BAD_REQUEST"
                response = Response(
                    msgspec.json.encode({"errors": [{"message": exc.reason, "extensions": {"code": code}}]}),
                    status_code=exc.status_code, media_type="application/json")
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


__all__ = ["AnalyticsGraphQL"]
