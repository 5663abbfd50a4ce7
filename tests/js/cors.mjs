// CORS and the SDK in headless Chromium, as a customer's site uses them: two tiny static sites on
// other loopback ports than the API (two origins). On the "other" site the page loads the API's
// /sdk.js with the publishable key and sends a page view (fetch) and, when the page is left, a
// content view and its engagement (sendBeacon); a plain fetch of `track` with the publishable key
// works there, and a read with the secret key is blocked by the browser (fetch rejects). On the
// "allowed" site (in the tenant's allowed origins) the same secret-key read works.
//
// usage: CORS_PUBLISHABLE_KEY=pk_... CORS_SECRET_KEY=sk_... CORS_ALLOWED_PORT=p1 CORS_OTHER_PORT=p2 \
//        node tests/js/cors.mjs http://127.0.0.1:8000
// env:   CHROMIUM (default /usr/bin/chromium), CORS_TIMEOUT_MS (default 60000)
// exit:  0 with a JSON report on stdout; 1 with `cors.mjs: <step>: <reason>` on stderr.

import { createServer } from "node:http";

import { finish, withChromium } from "./browser.mjs";

const api = process.argv[2];
const publishable = process.env.CORS_PUBLISHABLE_KEY || "";
const secret = process.env.CORS_SECRET_KEY || "";
const allowedOrigin = `http://127.0.0.1:${process.env.CORS_ALLOWED_PORT}`;
const otherOrigin = `http://127.0.0.1:${process.env.CORS_OTHER_PORT}`;
const TIMEOUT_MS = Number(process.env.CORS_TIMEOUT_MS || 60_000);

const PAGES = {
  "/shop.html": `<!doctype html><html><head><title>Shop</title>
<script src="${api}/sdk.js" data-key="${publishable}"></script></head>
<body><h1>Shop</h1><p style="height: 3000px">Pricing</p></body></html>`,
  "/plain.html": "<!doctype html><html><head><title>Plain</title></head><body>plain</body></html>",
};

const report = { sdkLoaded: false, pageView: null, pendingAfterFlush: null, beacons: [],
  publishableTrack: null, secretFromOther: null, secretFromAllowed: null, consoleErrors: [] };
let step = "start";

function fail(reason) {
  const error = new Error(reason);
  error.step = step;
  throw error;
}

function serve(port) {
  const server = createServer((request, response) => {
    const path = new URL(request.url, "http://site").pathname;
    const page = PAGES[path];
    response.writeHead(page ? 200 : path === "/favicon.ico" ? 204 : 404, { "Content-Type": "text/html; charset=utf-8" });
    response.end(page || "");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(port), "127.0.0.1", () => resolve(server));
  });
}

// Runs in the page: a GraphQL POST with a key in the Authorization header (a CORS preflight first).
async function graphql({ url, key, query, variables }) {
  try {
    const response = await fetch(url, { method: "POST", body: JSON.stringify({ query, variables }),
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` } });
    return { ok: true, status: response.status, body: await response.json() };
  } catch (error) {
    return { ok: false, error: error.name, message: error.message };
  }
}

async function drive(page) {
  const endpoint = `${api}/graphql`;
  step = "the shop page loads /sdk.js from the API";
  const answered = page.waitForResponse((r) => r.url() === endpoint && r.request().method() === "POST");
  await page.goto(`${otherOrigin}/shop.html`, { waitUntil: "load" });
  report.sdkLoaded = await page.evaluate(() => typeof window.analytics?.tour === "function");
  if (!report.sdkLoaded) fail("window.analytics is missing");

  step = "the SDK sends the page view and reads the answer";
  await page.evaluate(() => window.analytics.flush());
  report.pageView = await (await answered).json();
  report.pendingAfterFlush = await page.evaluate(() => window.analytics.pending);
  if (report.pendingAfterFlush !== 0) fail("the SDK could not read the answer (it kept the events to retry)");

  step = "leaving the page sends a beacon";
  await page.evaluate(() => window.analytics.content("ContentViewed", "pricing-faq"));
  await page.goto(`${otherOrigin}/plain.html`, { waitUntil: "load" }); // the same origin: its storage
  report.beacons = await page.evaluate(() => JSON.parse(localStorage.getItem("beacons") || "[]"));

  step = "a publishable key tracks from any origin";
  report.publishableTrack = await page.evaluate(graphql, { url: endpoint, key: publishable,
    query: "mutation T($events: [TrackEvent!]!) { track(events: $events) { accepted } }",
    variables: { events: [{ id: crypto.randomUUID(), type: "TourStarted", timestamp: new Date().toISOString(),
      userId: "u1", tourId: "onboarding" }] } });

  step = "a secret-key read from an origin not allowed is blocked";
  report.secretFromOther = await page.evaluate(graphql, { url: endpoint, key: secret, query: "{ tenant { id } }" });

  step = "the same read from an allowed origin works";
  await page.goto(`${allowedOrigin}/plain.html`, { waitUntil: "load" });
  report.secretFromAllowed = await page.evaluate(graphql, { url: endpoint, key: secret,
    query: "{ tenant { id } }" });
}

async function main() {
  if (!api || !publishable || !secret) fail("usage: CORS_PUBLISHABLE_KEY=... CORS_SECRET_KEY=... node cors.mjs <api>");
  const sites = [await serve(process.env.CORS_ALLOWED_PORT), await serve(process.env.CORS_OTHER_PORT)];
  try {
    step = "launch chromium";
    await withChromium({ name: "cors", timeout: TIMEOUT_MS, prepare: recordBeacons }, async (context, page) => {
      page.on("console", (message) => message.type() === "error" && report.consoleErrors.push(message.text()));
      page.on("pageerror", (error) => report.consoleErrors.push(`uncaught: ${error.message}`));
      await drive(page);
    });
  } finally {
    for (const site of sites) site.close();
  }
}

/** Every sendBeacon call of a page, kept in its origin's storage (the page is gone right after). */
function recordBeacons(context) {
  return context.addInitScript(() => {
    const send = navigator.sendBeacon.bind(navigator);
    navigator.sendBeacon = (url, body) => {
      const queued = send(url, body);
      const calls = JSON.parse(localStorage.getItem("beacons") || "[]");
      calls.push({ url, body: typeof body, queued, events: JSON.parse(body).variables.events.map((e) => e.type) });
      localStorage.setItem("beacons", JSON.stringify(calls));
      return queued;
    };
  });
}

await finish("cors.mjs", main, report, () => step);
