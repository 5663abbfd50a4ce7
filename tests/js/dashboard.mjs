// Drives the dashboard (/dashboard) in headless Chromium with the network cut off: every request to a
// host other than 127.0.0.1/localhost is blocked and recorded. Signs in with the key, measures the
// overview's first paint on a reload, reads the figures every page shows (data-figure / data-value),
// changes the period, compare and bot toggle, checks the ETag refresh, the phone width and labels,
// saves a screenshot of each page, and prints a JSON report (pytest compares it with the graph).
//
// usage: DASHBOARD_API_KEY=sk_... node tests/js/dashboard.mjs http://127.0.0.1:8000/dashboard
// env:   DASHBOARD_API_KEY      the key to sign in with (kept out of argv)
//        DASHBOARD_SCREENSHOTS  directory for dashboard-<page>.png (required)
//        DASHBOARD_FROM/_TO     the custom range to pick (YYYY-MM-DD)
//        CHROMIUM               browser executable (default /usr/bin/chromium)

import { join } from "node:path";

import { finish, isLocal, withChromium } from "./browser.mjs";

const TIMEOUT_MS = 30_000;
const url = process.argv[2];
const key = process.env.DASHBOARD_API_KEY || "";
const shots = process.env.DASHBOARD_SCREENSHOTS || "";

const report = { blocked: [], failed: [], consoleErrors: [], keyInUrl: false, keyStorage: null, unlabelled: [],
  overflowAtPhoneWidth: null, firstPaint: null, overview: {}, refresh: {}, tours: {}, tour: {}, traffic: {},
  content: {}, costs: {}, live: {}, funnels: {}, segments: [], movements: {}, features: [], experiments: [],
  granularity: {} };
let step = "start";

function fail(reason) {
  const error = new Error(reason);
  error.step = step;
  throw error;
}

async function watch(context, page) {
  await context.route("**/*", async (route) => {
    const address = route.request().url();
    if (!isLocal(address)) {
      report.blocked.push(address);
      await route.abort("blockedbyclient");
      return;
    }
    if (key && address.includes(key)) report.keyInUrl = true;
    await route.continue();
  });
  page.on("requestfailed", (r) => {
    // A revalidation the page sent itself (If-None-Match) that answered 304 shows up here as aborted:
    // the page got the 304 (window.dashboard.net.notModified counts them), there was no body to read.
    if (r.failure()?.errorText === "net::ERR_ABORTED" && r.headers()["if-none-match"]) return;
    if (isLocal(r.url())) report.failed.push(`${step}: ${r.url()}: ${r.failure()?.errorText}`);
  });
  page.on("response", (r) => { if (r.status() >= 400) report.failed.push(`${r.url()}: HTTP ${r.status()}`); });
  page.on("console", (m) => { if (m.type() === "error") report.consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => report.consoleErrors.push(`uncaught: ${e.message}`));
  page.on("framenavigated", (f) => { if (key && f.url().includes(key)) report.keyInUrl = true; });
}

const renders = (page) => page.evaluate(() => window.dashboard?.renders ?? 0);

/** Runs `action` and waits until the page has rendered again (not busy, one more render). */
async function rendered(page, action) {
  const before = await renders(page);
  await action();
  await page.waitForFunction((n) => window.dashboard && window.dashboard.renders > n
    && !document.getElementById("main").hasAttribute("aria-busy"), before);
  const error = await page.locator("main[data-page=error]").count();
  if (error) fail(`the page shows an error: ${await page.locator("main").innerText()}`);
}

async function shoot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(50); // let uPlot draw in its animation frame
  await page.screenshot({ path: join(shots, `dashboard-${name}.png`), fullPage: true });
}

const readFigures = (page, attribute) => page.evaluate((attr) => Object.fromEntries(
  [...document.querySelectorAll(`[${attr}]`)].map((n) => [n.getAttribute(attr), n.dataset.value])), attribute);

/** A chart's screen-reader table: {granularity, points: [[start, ...values]]}. */
const readSeries = (page, name) => page.evaluate((n) => {
  const table = document.querySelector(`table[data-series="${n}"]`);
  return table ? { granularity: table.dataset.granularity, points: [...table.querySelectorAll("tr[data-start]")]
    .map((tr) => [tr.dataset.start, ...[...tr.querySelectorAll("td[data-value]")].map((td) => Number(td.dataset.value))]) } : null;
}, name);

const readTable = (page, name, columns) => page.evaluate(([n, cols]) => [...document.querySelectorAll(
  `table[data-table="${n}"] tbody tr`)].map((tr) => cols.map((c) => {
  const cell = tr.children[c];
  return c === 0 ? cell.textContent : Number(cell.dataset.value);
})), [name, columns]);

async function overviewState(page) {
  return {
    figures: await readFigures(page, "data-figure"),
    changes: await readFigures(page, "data-change"),
    topSources: await readTable(page, "top-sources", [0, 1]),
    needsAttention: await page.evaluate(() => document.querySelector("[data-needs-attention]")?.dataset.needsAttention ?? null),
  };
}

async function drive(page) {
  step = "open the page";
  const response = await page.goto(url, { waitUntil: "load" });
  if (!response || response.status() !== 200) fail(`GET ${url} answered ${response?.status()}`);

  step = "sign in";
  await page.getByLabel("Secret key").fill(key);
  await rendered(page, () => page.getByRole("button", { name: "Sign in" }).click());
  report.keyStorage = await page.evaluate(() => (sessionStorage.getItem("analytics.dashboard.key") ? "session"
    : localStorage.getItem("analytics.dashboard.key") ? "local" : null));

  step = "first paint of the overview (reload, signed in)";
  await page.reload({ waitUntil: "commit" });
  await page.waitForFunction(() => window.dashboard && window.dashboard.firstPaintMs != null);
  report.firstPaint = await page.evaluate(() => {
    const paint = performance.getEntriesByName("first-contentful-paint")[0];
    return { figuresMs: Math.round(window.dashboard.firstPaintMs),
      firstContentfulPaintMs: paint ? Math.round(paint.startTime) : null,
      domContentLoadedMs: Math.round(performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd) };
  });
  report.overview.week = await overviewState(page);
  await shoot(page, "overview");

  step = "labels";
  report.unlabelled = await page.evaluate(() => [...document.querySelectorAll("input, select, button")]
    .filter((n) => !n.labels?.length && !n.getAttribute("aria-label") && !(n.textContent || "").trim()).map((n) => n.id || n.outerHTML));

  step = "auto-refresh revalidates with the ETag";
  const before = await page.evaluate(() => ({ ...window.dashboard.net, renders: window.dashboard.renders }));
  await page.getByRole("button", { name: "Refresh" }).click();
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("unchanged"));
  const after = await page.evaluate(() => ({ ...window.dashboard.net, renders: window.dashboard.renders }));
  report.refresh = { notModified: after.notModified - before.notModified, rerendered: after.renders !== before.renders };

  step = "compare to the previous period";
  await rendered(page, () => page.getByLabel("Compare to previous period").check());
  report.overview.compare = await overviewState(page);
  await shoot(page, "overview-compare");

  step = "the period picker: a preset";
  await rendered(page, () => page.getByLabel("Period", { exact: true }).selectOption("LAST_30_DAYS"));
  report.overview.month = await overviewState(page);
  report.granularity.hourOfferedForMonth = await page.evaluate(() => !document.querySelector("#granularity option[value=HOUR]").disabled);

  step = "the period picker: a custom range";
  await page.getByLabel("Period", { exact: true }).selectOption("CUSTOM");
  await page.getByLabel("From").fill(process.env.DASHBOARD_FROM);
  await page.getByLabel("to", { exact: true }).fill(process.env.DASHBOARD_TO);
  await rendered(page, () => page.getByRole("button", { name: "Apply" }).click());
  report.overview.custom = await overviewState(page);

  step = "include bots";
  await rendered(page, () => page.getByLabel("Period", { exact: true }).selectOption("LAST_30_DAYS"));
  await rendered(page, () => page.getByLabel("Include bots").check());
  report.overview.bots = await overviewState(page);

  step = "phone width";
  await page.setViewportSize({ width: 375, height: 800 });
  await page.waitForTimeout(100);
  report.overflowAtPhoneWidth = await page.evaluate(() => document.documentElement.scrollWidth > 376);
  await shoot(page, "overview-phone");
  await page.setViewportSize({ width: 1280, height: 900 });

  step = "traffic with bots";
  await rendered(page, () => page.getByLabel("Period", { exact: true }).selectOption("LAST_7_DAYS"));
  // Unticking compare re-renders the overview: wait for it, or its render could pass for Traffic's.
  await rendered(page, () => page.getByLabel("Compare to previous period").uncheck());
  await rendered(page, () => page.getByRole("link", { name: "Traffic", exact: true }).click());
  const traffic = async () => ({
    sources: await readTable(page, "sources", [0, 1]),
    devices: await readTable(page, "devices", [0, 1]),
    tiers: await readTable(page, "bot-tiers", [0, 1]),
    removed: await page.evaluate(() => Number(document.querySelector("[data-bot-summary]").dataset.botSummary)),
  });
  report.traffic.bots = await traffic();
  step = "traffic without bots";
  await rendered(page, () => page.getByLabel("Include bots").uncheck());
  report.traffic.people = await traffic();
  await shoot(page, "traffic");

  step = "tours";
  await rendered(page, () => page.getByRole("link", { name: "Tours", exact: true }).click());
  report.tours.rows = await readTable(page, "tours", [0, 2, 3]);
  await shoot(page, "tours");
  step = "one tour";
  const link = page.locator("table[data-table=tours] tbody tr th a").first();
  report.tour.id = decodeURIComponent((await link.getAttribute("href")).replace("#/tours/", ""));
  await rendered(page, () => link.click());
  report.tour.figures = await readFigures(page, "data-figure");
  report.tour.funnel = await page.evaluate(() => [...document.querySelectorAll("[data-bars=funnel] .bar-row")]
    .map((n) => Number(n.dataset.value)));
  report.tour.worstStep = await page.evaluate(() => [...document.querySelectorAll("[data-bars=funnel] .bar-row")]
    .findIndex((n) => n.classList.contains("worst")));
  await shoot(page, "tour");
  step = "hourly buckets";
  await rendered(page, () => page.getByLabel("Buckets").selectOption("HOUR"));
  report.granularity.tourHour = await readSeries(page, "tour-series");
  await rendered(page, () => page.getByRole("link", { name: "Overview", exact: true }).click());
  report.granularity.sessionsHour = await readSeries(page, "sessions");
  await shoot(page, "overview-hourly");
  await rendered(page, () => page.getByLabel("Buckets").selectOption("DAY"));
  report.granularity.sessionsDay = await readSeries(page, "sessions");

  step = "content";
  await rendered(page, () => page.getByRole("link", { name: "Content", exact: true }).click());
  report.content.figures = await readFigures(page, "data-figure");
  await shoot(page, "content");
  step = "funnels";
  await rendered(page, () => page.getByRole("link", { name: "Funnels", exact: true }).click());
  report.funnels = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll("[data-funnel]")]
    .map((n) => [n.dataset.funnel, [Number(n.dataset.value), [...n.parentElement.querySelectorAll(".bar-row")]
      .map((r) => Number(r.dataset.value))]])));
  await shoot(page, "funnels");
  step = "segments";
  await rendered(page, () => page.getByRole("link", { name: "Segments", exact: true }).click());
  report.segments = await readTable(page, "segments", [0, 1]);
  report.movements = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll("[data-movements]")]
    .map((n) => [n.dataset.movements, { rows: [...n.querySelectorAll("tbody tr")]
      .map((tr) => [tr.children[0].textContent, Number(tr.children[1].dataset.value)]),
    empty: n.querySelector("[data-empty]")?.textContent ?? null }])));
  await shoot(page, "segments");
  step = "features";
  await rendered(page, () => page.getByRole("link", { name: "Features", exact: true }).click());
  report.features = await page.evaluate(() => [...document.querySelectorAll("table[data-table=features] tbody tr")]
    .map((tr) => [tr.children[0].textContent, Number(tr.children[1].dataset.value), tr.children[5].dataset.value]));
  await shoot(page, "features");
  step = "experiments";
  await rendered(page, () => page.getByRole("link", { name: "Experiments", exact: true }).click());
  report.experiments = await page.evaluate(() => [...document.querySelectorAll("[data-verdict]")].map((n) => n.dataset.verdict));
  await shoot(page, "experiments");
  step = "costs";
  await rendered(page, () => page.getByRole("link", { name: "Costs", exact: true }).click());
  report.costs.figures = await readFigures(page, "data-figure");
  report.costs.models = await readTable(page, "models", [0, 4]);
  await shoot(page, "costs");
  step = "live";
  await rendered(page, () => page.getByRole("link", { name: "Live", exact: true }).click());
  report.live.count = Number(await page.locator("[data-figure=live]").getAttribute("data-value"));
  await shoot(page, "live");

  step = "nothing left the machine";
  if (report.blocked.length) fail(`the page tried to reach ${report.blocked.join(", ")}`);
}

async function main() {
  if (!url || !key || !shots) fail("usage: DASHBOARD_API_KEY=<key> DASHBOARD_SCREENSHOTS=<dir> node dashboard.mjs <url>");
  step = "launch chromium";
  await withChromium({
    name: "dashboard", timeout: TIMEOUT_MS, viewport: { width: 1280, height: 900 },
    onFailure: (page) => page.screenshot({ path: join(shots, "dashboard-failure.png"), fullPage: true }),
  }, async (context, page) => {
    await watch(context, page);
    await drive(page);
  });
}

await finish("dashboard.mjs", main, report, () => step);
