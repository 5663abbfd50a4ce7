"""Text PostgreSQL cannot store: NUL characters and lone UTF-16 surrogates (one rule for every input)."""

from __future__ import annotations


def unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored in a PostgreSQL text column, or None when it can."""
    if "\x00" in value:
        return "must not contain NUL (\\u0000) characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode (lone surrogate)"
    return None
