"""Trusted documents: the operations a tenant registered (Apollo or Relay manifest) and its allowlist switch.

Manifest formats accepted, as the clients' tools write them:

- Apollo (``generate-persisted-query-manifest``)::

    {"format": "apollo-persisted-query-manifest", "version": 1,
     "operations": [{"id": "<sha256 of body>", "name": "Op", "type": "query", "body": "query Op {...}"}]}

- Relay (``relay-compiler`` with ``persistConfig``), a map of id to text::

    {"<md5 or sha256 of text>": "query Op {...}"}

Every id is checked against its text (sha256, or md5 for Relay's default); a document whose id does
not match is refused, so an id always names exactly one text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import CURRENT_TENANT
from analytics.errors import InvalidArgument

HEX64 = re.compile(r"[0-9a-f]{64}")
HEX32 = re.compile(r"[0-9a-f]{32}")
MAX_DOCUMENTS = 5000
MAX_BODY_CHARS = 100_000


def sha256_hex(text: str) -> str:
    """A document's sha256 id. surrogatepass: a lone surrogate escape in a JSON body must not turn
    hashing into a crash (the document then fails to parse, as it should)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class DocumentIn:
    id: str
    body: str
    name: str | None = None
    type: str | None = None

    @property
    def sha256(self) -> str:
        return sha256_hex(self.body)


@dataclass(frozen=True)
class StoredDocument:
    id: str
    sha256: str
    operation_name: str | None
    operation_type: str
    body: str


def normalise_id(raw: str) -> str:
    """``sha256:<hex>`` (the GraphQL-over-HTTP persisted-documents form) and bare hex are the same id."""
    return raw[7:] if raw.startswith("sha256:") else raw


def parse_manifest(data: Any) -> list[DocumentIn]:
    """Documents from an Apollo or Relay manifest; a problem names the operation and what is wrong."""
    if not isinstance(data, dict):
        raise InvalidArgument("manifest", "must be a JSON object (an Apollo or a Relay manifest)")
    if data.get("format") == "apollo-persisted-query-manifest":
        if data.get("version") != 1:
            raise InvalidArgument("manifest.version", "only version 1 of the Apollo manifest is known")
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise InvalidArgument("manifest.operations", "must be a list")
        documents = []
        for index, operation in enumerate(operations):
            where = f"manifest.operations[{index}]"
            if not isinstance(operation, dict):
                raise InvalidArgument(where, "must be an object with id, name, type and body")
            raw_id, body = operation.get("id"), operation.get("body")
            if not isinstance(raw_id, str) or not isinstance(body, str):
                raise InvalidArgument(where, "needs a string id and a string body")
            name, kind = operation.get("name"), operation.get("type")
            documents.append(DocumentIn(normalise_id(raw_id), body, name if isinstance(name, str) else None,
                                        kind if isinstance(kind, str) else None))
    elif "format" in data:
        raise InvalidArgument("manifest.format", f"unknown format {data['format']!r}; expected "
                                                 "'apollo-persisted-query-manifest' or a Relay id map")
    else:
        documents = []
        for raw_id, body in data.items():
            if not isinstance(body, str):
                raise InvalidArgument(f"manifest[{raw_id!r}]", "must map an id to the document text")
            documents.append(DocumentIn(normalise_id(raw_id), body))
    return check_documents(documents)


def check_documents(documents: list[DocumentIn]) -> list[DocumentIn]:
    if not documents:
        raise InvalidArgument("documents", "at least one document is required")
    if len(documents) > MAX_DOCUMENTS:
        raise InvalidArgument("documents", f"{len(documents)} documents; the limit is {MAX_DOCUMENTS}")
    seen: set[str] = set()
    for document in documents:
        where = f"documents[{document.id!r}]"
        if len(document.body) > MAX_BODY_CHARS:
            raise InvalidArgument(where, f"the body is longer than {MAX_BODY_CHARS} characters")
        if document.id in seen:
            raise InvalidArgument(where, "the id appears twice")
        seen.add(document.id)
        if HEX64.fullmatch(document.id):
            if document.id != document.sha256:
                raise InvalidArgument(where, "the id is not the sha256 of the body")
        elif HEX32.fullmatch(document.id):
            if document.id != hashlib.md5(document.body.encode()).hexdigest():
                raise InvalidArgument(where, "the id is not the md5 of the body")
        else:
            raise InvalidArgument(where, "the id must be the sha256 (64 hex digits) or md5 (32) of the body")
    return documents


async def store_documents(conn: AsyncConnection, tenant_id: int,
                          documents: list[tuple[DocumentIn, str, str | None]], *, replace: bool) -> int:
    """Upsert ``(document, operation type, operation name)``; ``replace`` drops the tenant's others."""
    if replace:
        await conn.execute(text(f"DELETE FROM persisted_documents WHERE {CURRENT_TENANT}"))
    for document, kind, name in documents:
        await conn.execute(text(
            "INSERT INTO persisted_documents (tenant_id, id, sha256, operation_name, operation_type, body) "
            "VALUES (:tenant, :id, :sha, :name, :kind, :body) ON CONFLICT (tenant_id, id) DO UPDATE "
            "SET sha256 = EXCLUDED.sha256, operation_name = EXCLUDED.operation_name, "
            "operation_type = EXCLUDED.operation_type, body = EXCLUDED.body"),
            {"tenant": tenant_id, "id": document.id, "sha": document.sha256, "name": name, "kind": kind,
             "body": document.body})
    return len(documents)


async def find_document(conn: AsyncConnection, document_id: str) -> StoredDocument | None:
    """The current tenant's document with this id (or whose sha256 it is)."""
    row = (await conn.execute(text(
        "SELECT id, sha256, operation_name, operation_type, body FROM persisted_documents "
        f"WHERE {CURRENT_TENANT} AND (id = :id OR sha256 = :id) LIMIT 1"),
        {"id": normalise_id(document_id)})).one_or_none()
    return StoredDocument(*row) if row else None


async def list_documents(conn: AsyncConnection) -> list[StoredDocument]:
    rows = await conn.execute(text(
        "SELECT id, sha256, operation_name, operation_type, body FROM persisted_documents "
        f"WHERE {CURRENT_TENANT} ORDER BY operation_name NULLS LAST, id"))
    return [StoredDocument(*row) for row in rows]


async def persisted_only(conn: AsyncConnection, tenant_id: int) -> bool:
    """Whether the tenant itself is in allowlist mode (ANALYTICS_PERSISTED_ONLY may force it server-wide)."""
    return bool((await conn.execute(text("SELECT persisted_only FROM tenants WHERE id = :tenant"),
                                    {"tenant": tenant_id})).scalar())


async def set_persisted_only(conn: AsyncConnection, tenant_id: int, on: bool) -> None:
    """Allowlist mode on or off (admin: the tenants table is read-only to the API's role)."""
    await conn.execute(text("UPDATE tenants SET persisted_only = :on WHERE id = :tenant"),
                       {"on": on, "tenant": tenant_id})


__all__ = ["HEX64", "DocumentIn", "StoredDocument", "check_documents", "find_document",
           "list_documents", "normalise_id", "parse_manifest", "persisted_only", "set_persisted_only",
           "sha256_hex",
           "store_documents"]
