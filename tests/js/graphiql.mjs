// Drives the GraphiQL page in headless Chromium the way a person would, with the network cut off:
// every request to a host other than 127.0.0.1/localhost is blocked and recorded. It waits for the
// explorer to list `tenant` (introspection, no key yet), enters the API key, types a query, runs
// it, waits for the result, reloads to check the key was remembered, and prints a JSON report.
//
// usage: GRAPHIQL_API_KEY=sk_... node tests/js/graphiql.mjs http://127.0.0.1:8000/graphql
// env:   GRAPHIQL_API_KEY    the key to enter (required; kept out of argv so `ps` does not show it)
//        GRAPHIQL_QUERY      the query to type (default `{ tenant { id timezone } }`)
//        GRAPHIQL_EXPECT     text the result must contain (default `"data"`)
//        GRAPHIQL_SCREENSHOT PNG written after the run, or at the failure (optional)
//        CHROMIUM            browser executable (default /usr/bin/chromium)
//        GRAPHIQL_TIMEOUT_MS how long each step may take (default 60000)
// exit:  0 when everything held; 1 with `graphiql.mjs: <step>: <reason>` on stderr otherwise.

import { finish, isLocal, withChromium } from "./browser.mjs";

const TIMEOUT_MS = Number(process.env.GRAPHIQL_TIMEOUT_MS || 60_000);

const url = process.argv[2];
const key = process.env.GRAPHIQL_API_KEY || "";
const query = process.env.GRAPHIQL_QUERY || "{ tenant { id timezone } }";
const expected = process.env.GRAPHIQL_EXPECT || '"data"';
const screenshot = process.env.GRAPHIQL_SCREENSHOT || "";

const report = {
  url,
  blocked: [], // non-local requests the page attempted
  failed: [], // local requests that failed or answered >= 400
  consoleErrors: [],
  graphqlRequests: [], // {authorized, introspection} per POST to the endpoint, in order
  explorerListsTenant: false,
  result: null,
  keyRemembered: false,
};

let step = "start";

function fail(reason) {
  const error = new Error(reason);
  error.step = step;
  throw error;
}

async function watch(context, page) {
  await context.route("**/*", async (route) => {
    const request = route.request();
    if (!isLocal(request.url())) {
      report.blocked.push(request.url());
      await route.abort("blockedbyclient");
      return;
    }
    if (request.method() === "POST" && new URL(request.url()).pathname === new URL(url).pathname) {
      const headers = await request.allHeaders();
      let operation = "";
      try {
        operation = JSON.parse(request.postData() || "{}").query || "";
      } catch {
        operation = "(unparsable body)";
      }
      report.graphqlRequests.push({
        authorized: headers.authorization === `Bearer ${key}`,
        introspection: operation.includes("__schema"),
      });
    }
    await route.continue();
  });
  page.on("websocket", (socket) => {
    if (!isLocal(socket.url())) report.blocked.push(socket.url());
  });
  page.on("requestfailed", (request) => {
    if (isLocal(request.url())) report.failed.push(`${request.url()}: ${request.failure()?.errorText}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) report.failed.push(`${response.url()}: HTTP ${response.status()}`);
  });
  page.on("console", (message) => {
    // Chromium logs blocked requests and CSP violations as console errors too.
    if (message.type() === "error") report.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => report.consoleErrors.push(`uncaught: ${error.message}`));
}

async function resultText(page) {
  return page.evaluate(() => {
    const editor = document.querySelector(".graphiql-response .CodeMirror");
    return editor && editor.CodeMirror ? editor.CodeMirror.getValue() : "";
  });
}

async function drive(page) {
  step = "open the page";
  const response = await page.goto(url, { waitUntil: "load" });
  if (!response || response.status() !== 200) fail(`GET ${url} answered ${response?.status()}`);

  step = "explorer lists the schema without a key";
  const apiKey = page.locator("#api-key");
  if ((await apiKey.inputValue()) !== "") fail("the key input is not empty in a fresh profile");
  await page.locator(".graphiql-explorer-root").getByText("tenant", { exact: true }).first().waitFor();
  report.explorerListsTenant = true;

  step = "enter the API key";
  await apiKey.fill(key);

  step = "type the query";
  const editor = page.locator(".graphiql-query-editor .CodeMirror");
  await editor.click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.insertText(query);
  const typed = await editor.evaluate((node) => node.CodeMirror.getValue());
  if (typed !== query) fail(`the query editor holds ${JSON.stringify(typed)}`);

  step = "run the query";
  await page.locator(".graphiql-execute-button").click();
  await page.waitForFunction(
    (text) => {
      const node = document.querySelector(".graphiql-response .CodeMirror");
      return Boolean(node && node.CodeMirror && node.CodeMirror.getValue().includes(text));
    },
    expected,
    { timeout: TIMEOUT_MS },
  );
  const text = await resultText(page);
  try {
    report.result = JSON.parse(text);
  } catch {
    fail(`the result pane does not hold JSON: ${text}`);
  }
  if (report.result.errors) fail(`the query answered errors: ${JSON.stringify(report.result.errors)}`);
  const last = report.graphqlRequests.at(-1);
  if (!last || !last.authorized || last.introspection) fail("the query was not sent with Authorization: Bearer <key>");
  if (screenshot) await page.screenshot({ path: screenshot });

  step = "the key is remembered after a reload";
  await page.reload({ waitUntil: "load" });
  await page.locator(".graphiql-explorer-root").getByText("tenant", { exact: true }).first().waitFor();
  report.keyRemembered = (await apiKey.inputValue()) === key;
  if (!report.keyRemembered) fail("the key input is empty after a reload");

  step = "nothing left the machine";
  if (report.blocked.length) fail(`the page tried to reach ${report.blocked.join(", ")}`);
  if (report.failed.length) fail(`local requests failed: ${report.failed.join("; ")}`);
  if (report.consoleErrors.length) fail(`console errors: ${report.consoleErrors.join(" | ")}`);
}

async function main() {
  if (!url) fail("usage: GRAPHIQL_API_KEY=<key> node graphiql.mjs <graphiql-url>");
  if (!key) fail("GRAPHIQL_API_KEY is not set");
  step = "launch chromium";
  await withChromium({
    name: "graphiql", timeout: TIMEOUT_MS, viewport: { width: 1400, height: 900 },
    onFailure: (page) => screenshot && page.screenshot({ path: screenshot }),
  }, async (context, page) => {
    await watch(context, page);
    await drive(page);
  });
}

await finish("graphiql.mjs", main, report, () => step,
  () => (report.blocked.length ? ` (blocked non-local requests: ${report.blocked.join(", ")})` : ""));
