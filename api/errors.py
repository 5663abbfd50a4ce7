"""Errors a client can cause, each with a code in ``extensions``; anything else is masked.

UserError            base: message shown as is, ``extensions.code`` set
  Unauthenticated    no key, an unknown key or a revoked key          (UNAUTHENTICATED)
  Forbidden          a key of the wrong kind for the operation         (FORBIDDEN)
  BadInput           an argument out of range, naming the field        (BAD_USER_INPUT)
  BatchTooLarge      more events than one ``track`` may carry           (BATCH_TOO_LARGE)
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


class UserError(GraphQLError):
    code = "BAD_REQUEST"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class Unauthenticated(UserError):
    code = "UNAUTHENTICATED"


class Forbidden(UserError):
    code = "FORBIDDEN"


class BadInput(UserError):
    code = "BAD_USER_INPUT"

    def __init__(self, field: str, message: str, **extensions: Any) -> None:
        super().__init__(f"{field}: {message}", field=field, **extensions)


class BatchTooLarge(UserError):
    code = "BATCH_TOO_LARGE"


def should_mask(error: GraphQLError) -> bool:
    """Mask everything that did not come from our own user errors or GraphQL validation."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)
