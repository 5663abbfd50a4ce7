"""How a report is shown: rich tables, JSON (--json) or a CSV file (--export)."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cli.common import USAGE, fail


@dataclass
class Section:
    """One table of a report: its title and rows (dicts sharing their keys, in column order)."""

    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


# Table headers shorter than the JSON names they show.
HEADERS = {"avgSessionDurationSeconds": "avg secs", "durationSeconds": "secs", "bounceRate": "bounce %",
           "share": "share %", "pageViews": "page views", "utmSource": "utm source",
           "utmMedium": "utm medium", "utmCampaign": "utm campaign", "deviceType": "device",
           "userAgent": "user agent", "landingPage": "landing page", "exitPage": "exit page",
           "startedAt": "started", "lastSeenAt": "last seen"}
MIN_PIPED_WIDTH = 200  # piped output has no terminal to fit; keep rows on one line


def print_sections(console: Console, heading: str, sections: Sequence[Section]) -> None:
    if not console.is_terminal:
        console.width = max(console.width, MIN_PIPED_WIDTH)
    console.print(Text(heading, style="bold"))
    for section in sections:
        table = Table(title=section.title, title_justify="left")
        columns = list(section.rows[0]) if section.rows else ["(no data)"]
        for column in columns:
            numeric = bool(section.rows) and isinstance(section.rows[0][column], (int, float))
            table.add_column(HEADERS.get(column, column), justify="right" if numeric else "left")
        for row in section.rows:
            table.add_row(*(_cell(row[c]) for c in columns))
        console.print(table)


def write_csv(path: Path, sections: Sequence[Section]) -> int:
    """The sections' rows as one CSV file (a ``table`` column first when there are several); row count."""
    several = len(sections) > 1
    # dict keys: every column once, in the order first seen (rows of one table share their keys)
    columns = list(dict.fromkeys([*(["table"] if several else []),
                                  *(c for section in sections for row in section.rows for c in row)]))
    written = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for section in sections:
            for row in section.rows:
                cells = {k: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v
                         for k, v in row.items()}
                writer.writerow({"table": section.title, **cells} if several else cells)
                written += 1
    return written


def emit(console: Console, *, heading: str, sections: Sequence[Section], payload: Mapping[str, Any],
         as_json: bool, export: Path | None) -> None:
    """Print JSON or tables, and write the CSV file when --export asks for one."""
    if export is not None:
        try:
            count = write_csv(export, sections)
        except OSError as exc:
            raise fail(f"--export: cannot write {export}: {exc.strerror or exc}", USAGE) from None
        if not as_json:
            console.print(f"exported {count} rows to {export}")
    if as_json:
        print(json.dumps(payload, default=str))
    else:
        print_sections(console, heading, sections)


def heading(what: str, result: Mapping[str, Any]) -> str:
    period = result["period"]
    return f"{what} of {result['tenant']}: {period['from']} to {period['to']} ({period['timezone']})"
