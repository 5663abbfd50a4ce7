"""The HTTP stack's ceiling: a plain Starlette JSON endpoint served as the API is (uvicorn, one
process, uvloop and httptools when installed), answering a ``track`` body with the shape of track's
answer without storing anything. bench/ingest.py measures it in the same run as single-event
``track``, with the same load generator, so the gap between the two is what the product costs."""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

REPO_ROOT = Path(__file__).resolve().parent.parent
_BODY = msgspec.json.Decoder()


async def graphql(request: Request) -> Response:
    """Decode the JSON body and answer ``accepted`` = the number of events sent, as track would."""
    body = _BODY.decode(await request.body())
    events = body.get("variables", {}).get("events", [])
    answer = {"data": {"track": {"accepted": len(events), "duplicates": 0, "rejected": 0}}}
    return Response(msgspec.json.encode(answer), media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)])


@contextlib.contextmanager
def running_ceiling(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """This module's server as a subprocess on ``port``, until the block ends."""
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--port", str(port)],
                               cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the ceiling server exited: {process.stderr.read()[-2000:]!r}"
                                   if process.stderr else "the ceiling server exited")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the ceiling server did not start within 30 s")
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    import importlib.util

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    def has(module: str) -> bool:
        return importlib.util.find_spec(module) is not None

    # The options `analytics serve` gives uvicorn (cli/server_commands.py).
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", log_config=None,
                access_log=False, loop="uvloop" if has("uvloop") else "asyncio",
                http="httptools" if has("httptools") else "h11")


if __name__ == "__main__":
    main()
