// GraphQL-over-HTTP conformance: graphql-http's own auditServer run against a live endpoint.
//
//   node tests/js/audit.mjs http://127.0.0.1:8000/graphql
//
// Prints one JSON line per audit ({"kind":"audit", id, name, status, reason, response}) and a
// last {"kind":"summary"} line. Exits 1 when any audit is "error" (a MUST failed) or "warn" (a
// SHOULD failed), 2 on a crash; "notice" (a MAY not taken) is reported but does not fail.
// AUDIT_HEADERS='{"Authorization": "Bearer sk_..."}' adds headers to every request; the audit's
// `{ __typename }` queries need no key on this server, so tests run without it.
import { auditServer } from "graphql-http";

const REQUEST_TIMEOUT_MS = 15_000;
const BODY_PREVIEW_CHARS = 600;

function extraHeaders() {
  const raw = process.env.AUDIT_HEADERS;
  if (!raw) return {};
  const parsed = JSON.parse(raw);
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error("AUDIT_HEADERS must be a JSON object of header names to values");
  }
  return parsed;
}

function withHeaders(headers) {
  return (input, init = {}) => {
    const merged = new Headers(init.headers);
    for (const [name, value] of Object.entries(headers)) merged.set(name, String(value));
    // A hung request would otherwise stall the whole audit until the test's own timeout.
    return fetch(input, { ...init, headers: merged, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  };
}

async function describeResponse(response) {
  if (!response) return null;
  let body;
  try {
    body = await response.text();
  } catch (error) {
    body = `<unreadable body: ${error}>`;
  }
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    body: body.length > BODY_PREVIEW_CHARS ? `${body.slice(0, BODY_PREVIEW_CHARS)}…` : body,
  };
}

async function main() {
  const url = process.argv[2];
  if (!url) {
    console.error("usage: node audit.mjs <graphql endpoint url>");
    return 2;
  }
  const results = await auditServer({ url, fetchFn: withHeaders(extraHeaders()) });
  const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
  for (const result of results) {
    counts[result.status] += 1;
    const line = { kind: "audit", id: result.id, name: result.name, status: result.status };
    if (result.status !== "ok") {
      line.reason = result.reason;
      line.response = await describeResponse(result.response);
    }
    console.log(JSON.stringify(line));
  }
  console.log(JSON.stringify({ kind: "summary", url, total: results.length, ...counts }));
  return counts.error + counts.warn > 0 ? 1 : 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (error) => {
    console.error(error?.stack ?? String(error));
    process.exitCode = 2;
  },
);
