"""A GraphQL client of the analytics API that sends the CLI's operations as persisted documents.

A request sends ``documentId`` and the variables. When the server does not know the id yet, the
client registers the CLI's manifest (``registerPersistedDocuments``, secret key) and sends it
again; a tenant in allowlist mode must have it pushed by an operator instead. Every failure is one
line and an exit code (cli.common): unreachable 3, key refused 4, anything else the server says 1.
"""

from __future__ import annotations

from typing import Any

import httpx

from cli.common import REFUSED, UNAUTHORIZED, UNREACHABLE, fail
from cli.connection import Target
from cli.documents import documents, manifest

REGISTER = """mutation CliRegister($manifest: JSON!) {
  registerPersistedDocuments(manifest: $manifest) { stored }
}"""
ACCEPT = "application/graphql-response+json, application/json;q=0.9"
NOT_REGISTERED = "PERSISTED_QUERY_NOT_FOUND"


class GraphQLClient:
    def __init__(self, target: Target, *, timeout: float = 30.0) -> None:
        self.target = target
        self.http = httpx.Client(timeout=timeout, headers={
            "Authorization": f"Bearer {target.key}", "Accept": ACCEPT,
            "User-Agent": "analytics-cli"})

    def run(self, name: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The ``data`` of the CLI operation ``name``, or a one-line failure."""
        document = documents()[name]
        body = {"documentId": document.id, "operationName": name, "variables": variables}
        answer = self._post(body)
        if _code(answer) == NOT_REGISTERED:
            self._check(self._post({"query": REGISTER, "variables": {"manifest": manifest()}}))
            answer = self._post(body)
        return self._check(answer)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        url = self.target.url
        try:
            response = self.http.post(url, json=body)
        except httpx.TimeoutException:
            raise fail(f"{url} did not answer within {self.http.timeout.read} s", UNREACHABLE) from None
        except httpx.HTTPError as exc:
            raise fail(f"cannot reach {url}: {exc or type(exc).__name__} (is the server running? "
                       f"the URL came from {self.target.source})", UNREACHABLE) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not _well_formed(answer):
            raise fail(f"{url} is not an analytics GraphQL API (HTTP {response.status_code}, "
                       f"{response.headers.get('content-type', 'no content type')})", UNREACHABLE)
        well_formed: dict[str, Any] = answer
        return well_formed

    def _check(self, answer: dict[str, Any]) -> dict[str, Any]:
        errors = answer.get("errors") or []
        if not errors:
            data: dict[str, Any] = answer["data"]
            return data
        first = errors[0]
        code = (first.get("extensions") or {}).get("code")
        message = first.get("message", "the server gave no message")
        if code in ("UNAUTHENTICATED", "FORBIDDEN"):
            raise fail(f"the server refused the key from {self.target.source}: {message}", UNAUTHORIZED)
        if code == "PERSISTED_QUERY_NOT_IN_LIST":
            raise fail("this tenant runs only registered operations (allowlist mode): register the CLI's "
                       "with `analytics persisted manifest -o cli.json` and `analytics persisted push "
                       "cli.json --tenant NAME`", REFUSED)
        raise fail(f"the server answered: {message}" + (f" ({code})" if code else ""), REFUSED)


def _code(answer: dict[str, Any]) -> str | None:
    errors = answer.get("errors") or []
    return (errors[0].get("extensions") or {}).get("code") if errors else None


def _well_formed(answer: object) -> bool:
    """A GraphQL response: errors as a list of objects, or data as an object."""
    if not isinstance(answer, dict):
        return False
    errors = answer.get("errors") or []
    if not isinstance(errors, list) or not all(isinstance(e, dict) for e in errors):
        return False
    return bool(errors) or isinstance(answer.get("data"), dict)
