"""What every command shares: the consoles, the exit codes, one-line failures and the settings.

Exit codes (the README lists them):

- 0: done.
- 1: the server or the database refused the request (a GraphQL error, an unknown tenant, a missing schema).
- 2: a bad option or argument (typer's own usage errors use 2 as well).
- 3: no server could be reached at the URL (connection refused, timed out, not an analytics API).
- 4: the key was refused: missing, unknown or revoked, or a publishable key where a secret one is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from analytics.settings import Settings, SettingsError, load_settings

T = TypeVar("T")
console = Console()
err = Console(stderr=True)

REFUSED, USAGE, UNREACHABLE, UNAUTHORIZED = 1, 2, 3, 4

DataDir = typer.Option(
    None, "--data-dir",
    help="Where embedded servers keep data (default: ./.analytics, or ANALYTICS_DATA_DIR).")
JsonOut = typer.Option(False, "--json", help="Print machine-readable JSON.")


def fail(message: str, code: int = REFUSED) -> typer.Exit:
    """Print ``error: message`` on one line of stderr; raise the returned Exit."""
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def write_private(path: Path, content: str) -> None:
    """``content`` into ``path`` readable by its owner only, from the first byte (it holds keys): a
    new file created mode 0600 beside it, then moved over it."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)
    partial.replace(path)


def write_text_or_fail(option: str, path: Path, content: str) -> None:
    """Write a file the user named; a path that cannot be written is one line and exit code 2."""
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise fail(f"{option}: cannot write {path}: {exc.strerror or exc}", USAGE) from None


def settings_for(data_dir: Path | None = None) -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise fail(f"configuration error: {exc}", USAGE) from None
    if data_dir is not None:
        settings = Settings(**{**settings.__dict__, "data_dir": data_dir})
    return settings


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]
