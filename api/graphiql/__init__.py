"""GraphiQL at /graphql in a browser (placeholder: Strawberry's CDN page until the vendored one lands)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute


def graphiql_page(request: Request) -> HTMLResponse:
    from strawberry.http.ides import get_graphql_ide_html

    return HTMLResponse(get_graphql_ide_html(graphql_ide="graphiql"))


def graphiql_routes() -> list[BaseRoute]:
    """Routes for the page's static assets (none yet)."""
    return []
