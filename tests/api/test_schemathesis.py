"""Schemathesis against the live endpoint (issue 17): queries and mutations generated from
schema.graphql, sent with a publishable and with a secret key, get no server error (no HTTP 5xx,
no INTERNAL_SERVER_ERROR code among the errors).

Bounded for CI: ``EXAMPLES`` cases per operation and key kind, derandomized (the same cases every
run). ``ANALYTICS_SCHEMATHESIS_EXAMPLES=500 pytest tests/api/test_schemathesis.py`` runs longer.
Mutations write into the throwaway tenant of ``make_tenant`` only: the tours, bot rules and export
jobs they create read or hold that tenant's few rows (exports read stored rows, never a calendar).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from graphql import (
    BooleanValueNode,
    FloatValueNode,
    IntValueNode,
    ListValueNode,
    NameNode,
    NullValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
)
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Err

from tests.conftest import BROWSER_AGENT

SCHEMA = Path(__file__).resolve().parents[2] / "schema.graphql"
EXAMPLES = int(os.environ.get("ANALYTICS_SCHEMATHESIS_EXAMPLES", "12"))
INTERNAL = "INTERNAL_SERVER_ERROR"


def _value_node(value: Any) -> ValueNode:
    """A JSON value as the GraphQL literal the JSON scalar parses."""
    if value is None:
        return NullValueNode()
    if isinstance(value, bool):
        return BooleanValueNode(value=value)
    if isinstance(value, int):
        return IntValueNode(value=str(value))
    if isinstance(value, float):
        return FloatValueNode(value=repr(value))
    if isinstance(value, str):
        return StringValueNode(value=value)
    if isinstance(value, list):
        return ListValueNode(values=tuple(_value_node(item) for item in value))
    return ObjectValueNode(fields=tuple(ObjectFieldNode(name=NameNode(value=name), value=_value_node(item))
                                        for name, item in value.items()))


_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_NAMES, children, max_size=4),
    max_leaves=10,
)
# registerPersistedDocuments(manifest: JSON!): mostly manifest-shaped (Apollo's operations list or a
# Relay map; an inline literal's keys are GraphQL names), some any JSON.
_DOCUMENTS = st.text(max_size=60) | st.sampled_from(["{ tenant { id } }", "query Q { tenant { name } }",
                                                     "mutation { setPrivacySignals(honour: false) }"])
_APOLLO = st.fixed_dictionaries(
    {"format": st.just("apollo-persisted-query-manifest") | st.text(max_size=10), "version": st.integers(0, 2),
     "operations": st.lists(st.fixed_dictionaries(
         {"id": st.text(max_size=70), "body": _DOCUMENTS},
         optional={"name": st.text(max_size=10), "type": st.sampled_from(["query", "mutation", "x"])}),
         max_size=3)})
_MANIFEST = _APOLLO | st.dictionaries(_NAMES, _DOCUMENTS, max_size=3)
schemathesis.graphql.scalar("JSON", st.one_of(_MANIFEST, _JSON).map(_value_node))

# Random text rarely gets past the first check of an argument: half the strings and integers are drawn
# from values the API means (days and instants at the edges of the calendar, event types, origins, bot
# patterns, scanner rules) so that generated cases reach the resolvers, ingest and the SQL behind them.
_STRINGS = [
    "2026-12-01", "2026-11-01", "1970-01-01", "2200-12-31", "1969-12-31", "0001-01-01", "9999-12-31",
    "2026-02-29", "2026-12-01T10:00:00Z", "2026-12-03T00:00:00+14:00", "1970-01-01T00:00:00+14:00",
    "2200-12-31T23:59:59-12:00", "2026-12-01T10:00:00", "30m", "24h", "7d", "2w", "0m", "99999999w", "TourStarted", "StepViewed", "StepCompleted",
    "TourCompleted", "ContentViewed", "ContentEngagement", "ConversationMessage", "ContentAssetViewed",
    "PageViewed", "PageEngagement", "target_not_found", "t1", "u1", "c1", "step-1",
    "3f1c2b9e-7a4d-4c1e-9b8a-2d6f5e4c3b2a", "https://shop.example.com", "http://localhost:3000",
    "https://shop.example.com/pricing?a=1#x", "https://xn--bcher-kva.example", "Googlebot", "(?i)bot",
    "(", "a{100000}", ".*", "secrets", "exploits", "wordpress", "admin_tools", "backups", "php", "UTC",
    "Pacific/Kiritimati", "#cta", "assistant", "user", "video", "pdf",
]
_INTEGERS = [0, 1, -1, 2, 100, 500, 501, 999, 1000, 1001, 2**31 - 1, -(2**31)]
CONFIG = SchemathesisConfig.from_dict({
    "dictionaries": {"strings": {"values": _STRINGS}, "integers": {"values": _INTEGERS}},
    "generation": {"dictionaries": {"string": {"dictionary": "strings", "probability": 0.5},
                                    "integer": {"dictionary": "integers", "probability": 0.3}}},
})


@dataclass
class Report:
    examples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)


def fuzz(base_url: str, key: str) -> Report:
    """Every operation of the schema, ``EXAMPLES`` generated cases each, sent with ``key``; blocking
    (requests), so the test runs it in a thread while the server answers on the event loop."""
    schema = schemathesis.graphql.from_path(SCHEMA, config=CONFIG)
    report = Report()
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {key}", "User-Agent": BROWSER_AGENT})
    for result in schema.get_all_operations():
        assert not isinstance(result, Err), result.err()
        operation = result.ok()
        # Positive cases pass validation and reach the resolvers; negative ones break a type rule.
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            label = f"{operation.label} ({mode.value})"
            given(case=operation.as_strategy(mode))(_runner(report, session, base_url, label))()
    session.close()
    return report


def _runner(report: Report, session: requests.Session, base_url: str,
            label: str) -> Callable[[Any], None]:
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call(base_url=f"{base_url}/graphql", session=session, timeout=30)
        report.examples += 1
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
        codes = _error_codes(response)
        for code in set(codes) or {"-"}:
            report.codes[code] = report.codes.get(code, 0) + 1
        if response.status_code >= 500 or INTERNAL in codes:
            report.server_errors.append(f"{label}: HTTP {response.status_code} {codes}\n"
                                        f"  query: {case.body}\n  answer: {response.text[:2000]}")

    return run


def _error_codes(response: requests.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [str((error.get("extensions") or {}).get("code")) for error in errors or ()
            if isinstance(error, dict)]


@pytest.mark.parametrize("kind", ["publishable", "secret"])
async def test_generated_operations_get_no_server_error(base_url: str, make_tenant: Callable[..., Any],
                                                        kind: str) -> None:
    tenant = await make_tenant()
    key = tenant.publishable if kind == "publishable" else tenant.secret
    started = time.monotonic()
    report = await asyncio.to_thread(fuzz, base_url, key)
    elapsed = time.monotonic() - started
    print(f"schemathesis ({kind} key): {report.examples} examples in {elapsed:.1f} s, statuses "
          f"{dict(sorted(report.statuses.items()))}, error codes {dict(sorted(report.codes.items()))}")
    assert report.examples >= EXAMPLES
    assert not report.server_errors, "\n".join(report.server_errors)
