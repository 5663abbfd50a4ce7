"""``analytics costs|agents|tools|requests|conversations|prices ...``: AI operations from the graph's own
fields, read over HTTP, printed as tables with totals and trend arrows, JSON (--json) or CSV (--export)."""

from __future__ import annotations

from cli.ai.costs import costs_app
from cli.ai.operations import agents_app, requests_app
from cli.ai.prices import prices_app
from cli.ai.usage import conversations_app, tools_app

__all__ = ["agents_app", "conversations_app", "costs_app", "prices_app", "requests_app", "tools_app"]
