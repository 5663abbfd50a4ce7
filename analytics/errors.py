"""Domain errors a caller can cause; the adapters turn them into GraphQL or CLI errors."""

from __future__ import annotations


class InvalidArgument(ValueError):
    """An argument that cannot be used; ``field`` names it and ``message`` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
