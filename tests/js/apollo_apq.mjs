// Automatic persisted queries as Apollo Client really speaks them, checked exchange by exchange.
//
//   ANALYTICS_API_KEY=sk_... node tests/js/apollo_apq.mjs http://127.0.0.1:8000/graphql [post|get]
//
// Apollo's own createPersistedQueryLink + HttpLink, over Node's fetch wrapped to record each HTTP
// exchange. A query text that is new on every run (a random alias) goes through two clients:
//   client 1: hash only -> PersistedQueryNotFound; Apollo retries with the query -> data
//   client 2 (new client, link and cache): hash only -> the same data, the query text never sent
// "get" mode sets useGETForHashedQueries: hash-only requests go as GET, Apollo's retry as POST.
// Prints JSON lines ({"kind":"exchange"}, {"kind":"result"}, {"kind":"deviation"}, a last
// {"kind":"summary"}); exits 1 on any deviation from the protocol, 2 on a crash.
import { createHash, randomUUID } from "node:crypto";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client/core/index.js";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries/index.js";

const NOT_FOUND = { message: "PersistedQueryNotFound", code: "PERSISTED_QUERY_NOT_FOUND" };
const REQUEST_TIMEOUT_MS = 15_000;

const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const emit = (line) => console.log(JSON.stringify(line));

/** What one request carried and what came back, read from the wire, not from Apollo. */
async function recordExchange(client, input, init, response) {
  const url = new URL(String(input));
  const method = (init.method ?? "GET").toUpperCase();
  let sent;
  if (method === "GET") {
    const param = (name) => url.searchParams.get(name);
    sent = {
      query: param("query"),
      operationName: param("operationName"),
      variables: param("variables") === null ? undefined : JSON.parse(param("variables")),
      extensions: param("extensions") === null ? undefined : JSON.parse(param("extensions")),
    };
  } else {
    sent = JSON.parse(String(init.body));
  }
  const text = await response.clone().text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return {
    kind: "exchange",
    client,
    method,
    searchParams: [...url.searchParams.keys()],
    query: sent.query ?? null,
    operationName: sent.operationName ?? null,
    variables: sent.variables ?? null,
    persistedQuery: sent.extensions?.persistedQuery ?? null,
    status: response.status,
    contentType: response.headers.get("content-type"),
    body,
  };
}

function makeClient({ client, uri, key, useGET, exchanges }) {
  const recordingFetch = async (input, init = {}) => {
    const response = await fetch(input, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const exchange = await recordExchange(client, input, init, response);
    exchanges.push(exchange);
    emit(exchange);
    return response;
  };
  const link = createPersistedQueryLink({ sha256, useGETForHashedQueries: useGET }).concat(
    new HttpLink({ uri, fetch: recordingFetch, headers: { authorization: `Bearer ${key}` } }),
  );
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

async function runClient(options, document) {
  const exchanges = [];
  const apollo = makeClient({ ...options, exchanges });
  let result;
  try {
    const { data, errors } = await apollo.query({
      query: document, fetchPolicy: "network-only", errorPolicy: "all",
    });
    result = { kind: "result", client: options.client, data: data ?? null, errors: errors ?? null };
  } catch (error) {
    result = { kind: "result", client: options.client, data: null, errors: [{ message: String(error) }] };
  } finally {
    apollo.stop();
  }
  emit(result);
  return { exchanges, result };
}

function errorCodes(exchange) {
  const errors = typeof exchange.body === "object" && exchange.body?.errors;
  return Array.isArray(errors) ? errors.map((e) => e?.extensions?.code ?? e?.message) : [];
}

/** Every way the recorded exchanges differ from the APQ protocol, as readable sentences. */
function deviations({ mode, first, second }) {
  const found = [];
  const check = (ok, message) => { if (!ok) found.push(message); };
  const hashedMethod = mode === "get" ? "GET" : "POST";
  const hashOnly = (label, ex, hash) => {
    check(ex.method === hashedMethod, `${label}: sent as ${ex.method}, expected ${hashedMethod}`);
    check(ex.query === null, `${label}: carried the query text, expected the hash alone`);
    check(ex.persistedQuery?.version === 1 && /^[0-9a-f]{64}$/.test(ex.persistedQuery?.sha256Hash ?? ""),
      `${label}: no extensions.persistedQuery {version: 1, sha256Hash}`);
    if (hash) check(ex.persistedQuery?.sha256Hash === hash, `${label}: hash differs from client 1's`);
    if (mode === "get") {
      for (const name of ["extensions", "variables", "operationName"]) {
        check(ex.searchParams.includes(name), `${label}: GET URL lacks ?${name}=`);
      }
    }
  };
  const succeeded = (label, ex) => {
    check(ex.status === 200, `${label}: HTTP ${ex.status}, expected 200 (body: ${JSON.stringify(ex.body)})`);
    check(errorCodes(ex).length === 0, `${label}: errors ${JSON.stringify(errorCodes(ex))}`);
    check(Boolean(ex.body?.data?.tenant), `${label}: no data.tenant in the response`);
  };

  const [notFound, retry, ...extra1] = first.exchanges;
  check(first.exchanges.length === 2,
    `client 1: ${first.exchanges.length} requests, expected 2 (hash alone, then hash + query)`);
  if (notFound) {
    hashOnly("client 1 request 1", notFound);
    check(notFound.status === 200, `client 1 request 1: HTTP ${notFound.status}, expected 200`);
    const errors = typeof notFound.body === "object" ? notFound.body?.errors ?? [] : [];
    check(errors.some((e) => e?.message === NOT_FOUND.message && e?.extensions?.code === NOT_FOUND.code),
      `client 1 request 1: expected error {message: "${NOT_FOUND.message}", extensions: {code: ` +
      `"${NOT_FOUND.code}"}}, got ${JSON.stringify(notFound.body)}`);
  }
  if (retry) {
    check(retry.method === "POST", `client 1 request 2: sent as ${retry.method}, expected POST`);
    check(typeof retry.query === "string", "client 1 request 2: did not carry the query text");
    check(retry.persistedQuery?.sha256Hash === notFound?.persistedQuery?.sha256Hash,
      "client 1 request 2: did not carry the same persistedQuery hash (nothing to register)");
    if (typeof retry.query === "string") {
      check(sha256(retry.query) === retry.persistedQuery?.sha256Hash,
        "client 1 request 2: sha256(query) differs from the hash sent (Apollo bug?)");
    }
    succeeded("client 1 request 2", retry);
  }
  check(extra1.length === 0, `client 1: ${extra1.length} unexpected extra request(s)`);
  check(first.result.errors === null, `client 1: Apollo reported ${JSON.stringify(first.result.errors)}`);

  const [hashed, ...extra2] = second.exchanges;
  check(second.exchanges.length === 1,
    `client 2: ${second.exchanges.length} requests, expected 1 (the hash alone, already registered)`);
  if (hashed) {
    hashOnly("client 2 request 1", hashed, notFound?.persistedQuery?.sha256Hash);
    succeeded("client 2 request 1", hashed);
  }
  check(extra2.every((ex) => ex.query === null), "client 2: the query text was sent");
  check(second.result.errors === null, `client 2: Apollo reported ${JSON.stringify(second.result.errors)}`);
  check(JSON.stringify(second.result.data) === JSON.stringify(first.result.data),
    "client 2: data differs from client 1's");
  return found;
}

async function main() {
  const [uri, mode = "post"] = process.argv.slice(2);
  const key = process.env.ANALYTICS_API_KEY;
  if (!uri || !["post", "get"].includes(mode) || !key) {
    console.error("usage: ANALYTICS_API_KEY=sk_... node apollo_apq.mjs <graphql endpoint url> [post|get]");
    return 2;
  }
  // A random alias makes the document, and so its hash, new on every run: nothing is cached yet.
  const alias = `probe_${randomUUID().replaceAll("-", "")}`;
  const document = gql(`query Probe { ${alias}: __typename tenant { id timezone } }`);
  const options = { uri, key, useGET: mode === "get" };
  const first = await runClient({ ...options, client: 1 }, document);
  const second = await runClient({ ...options, client: 2 }, document);
  const found = deviations({ mode, first, second });
  for (const message of found) emit({ kind: "deviation", message });
  emit({ kind: "summary", mode, alias, deviations: found.length });
  return found.length > 0 ? 1 : 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (error) => {
    console.error(error?.stack ?? String(error));
    process.exitCode = 2;
  },
);
