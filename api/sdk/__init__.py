"""``GET /sdk.js``: the browser SDK's script-tag build (generated from ``sdk/`` by ``node sdk/build.mjs``).

The file is package data of ``api``, read through importlib.resources, so a non-editable install
serves it too. Any site may load it (``Access-Control-Allow-Origin: *``, and a cross-origin resource
policy for pages that require one); it is cached for an hour and revalidated by its ETag, since
pages reference one URL that must pick up a new SDK.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, request_response

CACHE_CONTROL = "public, max-age=3600"
MEDIA_TYPE = "text/javascript; charset=utf-8"


@functools.cache
def script() -> tuple[bytes, str]:
    """The file's bytes and its ETag (read once: it changes only with a new build of the package)."""
    content = resources.files(__package__).joinpath("sdk.js").read_bytes()
    return content, '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


async def sdk_js(request: Request) -> Response:
    content, etag = script()
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Access-Control-Allow-Origin": "*",
               "Cross-Origin-Resource-Policy": "cross-origin", "X-Content-Type-Options": "nosniff"}
    matches = [tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")]
    if etag in matches:
        return Response(status_code=304, headers=headers)
    return Response(content, headers=headers, media_type=MEDIA_TYPE)


def sdk_routes() -> list[BaseRoute]:
    """The SDK, gzipped on the way out when the browser accepts it."""
    return [Route("/sdk.js", GZipMiddleware(request_response(sdk_js), minimum_size=1024), methods=["GET"])]
