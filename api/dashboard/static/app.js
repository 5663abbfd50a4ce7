// The dashboard's entry: sign in with a key (kept in this browser, never in the URL), the top bar
// (period presets or a custom range in the tenant's time zone, compare, include bots), hash routes,
// and refreshes: the current page every 30 s, live sessions every 5 s, each revalidated by ETag.

import { forgetKey, GraphQLFailure, h, net, storedKey, storeKey } from "./lib.js";
import * as pages from "./pages.js";

const REFRESH_MS = 30_000;
const LIVE_MS = 5_000;
const VIEW_NAME = "analytics.dashboard.view";
// Hourly buckets only for short periods: the graph refuses more than 2000 buckets (about 83 days of
// hours), and an hourly chart past a week is unreadable and costly; a week is the limit offered here.
const HOUR_LIMIT_DAYS = 7;
const PRESET_DAYS = { TODAY: 1, YESTERDAY: 1, LAST_24_HOURS: 2, LAST_7_DAYS: 7, LAST_30_DAYS: 30, LAST_90_DAYS: 90 };

const ROUTES = [
  ["overview", "Overview"], ["tours", "Tours"], ["traffic", "Traffic"],
  ["content", "Content"], ["funnels", "Funnels"], ["segments", "Segments"], ["features", "Features"],
  ["experiments", "Experiments"], ["costs", "Costs"], ["live", "Live"],
];

const $ = (id) => document.getElementById(id);
const main = $("main");
const status = $("status");

/** Days the view's period spans (a custom range counts both ends). */
function rangeDays(v) {
  if (v.period === "CUSTOM" && v.from && v.to) return Math.round((Date.parse(v.to) - Date.parse(v.from)) / 86_400_000) + 1;
  return PRESET_DAYS[v.period === "CUSTOM" ? "LAST_7_DAYS" : v.period] ?? 7;
}

/** Hour is dropped (back to Auto) when the period is longer than HOUR_LIMIT_DAYS. */
function checkedGranularity(v) {
  return v.granularity === "HOUR" && rangeDays(v) > HOUR_LIMIT_DAYS ? { ...v, granularity: "AUTO" } : v;
}

function loadView() {
  const saved = JSON.parse(localStorage.getItem(VIEW_NAME) || "{}");
  return checkedGranularity({ period: saved.period || "LAST_7_DAYS", from: saved.from || "", to: saved.to || "",
    compare: Boolean(saved.compare), includeBots: Boolean(saved.includeBots),
    granularity: ["HOUR", "DAY"].includes(saved.granularity) ? saved.granularity : "AUTO" });
}

let view = loadView();
let timer = null;
let rendering = 0;
let timezone = "UTC"; // the tenant's, once the overview has said it
window.dashboard = { net, renders: 0, firstPaintMs: null };

function rangeOf(v) {
  return v.period === "CUSTOM" && v.from && v.to ? { from: v.from, to: v.to } : { preset: v.period === "CUSTOM" ? "LAST_7_DAYS" : v.period };
}

function route() {
  const [name = "overview", arg] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  return { name: ROUTES.some(([r]) => r === name) ? name : "overview", arg };
}

function showLogin(message) {
  $("top").hidden = true;
  clearTimeout(timer);
  const input = h("input", { id: "key", type: "password", autocomplete: "off", spellcheck: "false", required: true,
    "aria-describedby": "key-help", placeholder: "sk_…" });
  const remember = h("input", { id: "remember", type: "checkbox" });
  const form = h("form", { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in to the dashboard"),
    message ? h("p", { class: "error", role: "alert" }, message) : null,
    h("label", { for: "key" }, "Secret key"), input,
    h("p", { id: "key-help" }, "The key stays in this browser (this tab only unless you tick the box) and is sent as ",
      h("code", {}, "Authorization: Bearer"), " with each query. It never goes into the address bar."),
    h("p", {}, h("label", {}, remember, " Remember in this browser")),
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    storeKey(input.value.trim(), remember.checked);
    start();
  });
  main.replaceChildren(form);
  input.focus();
}

function syncControls() {
  $("period").value = view.period;
  $("custom").hidden = view.period !== "CUSTOM";
  $("from").value = view.from;
  $("to").value = view.to;
  $("compare").checked = view.compare;
  $("bots").checked = view.includeBots;
  const hour = $("granularity").querySelector("option[value=HOUR]");
  hour.disabled = rangeDays(view) > HOUR_LIMIT_DAYS;
  hour.textContent = hour.disabled ? `Hour (periods up to ${HOUR_LIMIT_DAYS} days)` : "Hour";
  $("granularity").value = view.granularity;
  const current = route().name;
  $("nav").replaceChildren(...ROUTES.map(([r, label]) => h("a", { href: `#/${r}`,
    "aria-current": r === current ? "page" : null }, label)));
}

function setView(change) {
  view = checkedGranularity({ ...view, ...change });
  localStorage.setItem(VIEW_NAME, JSON.stringify(view));
  render({ focus: false });
}

function wireControls() {
  $("period").addEventListener("change", (e) => {
    const period = e.target.value;
    $("custom").hidden = period !== "CUSTOM";
    if (period !== "CUSTOM") setView({ period });
    else $("from").focus();
  });
  $("controls").addEventListener("submit", (e) => {
    e.preventDefault();
    if ($("from").value && $("to").value) setView({ period: "CUSTOM", from: $("from").value, to: $("to").value });
  });
  $("compare").addEventListener("change", (e) => setView({ compare: e.target.checked }));
  $("bots").addEventListener("change", (e) => setView({ includeBots: e.target.checked }));
  $("granularity").addEventListener("change", (e) => setView({ granularity: e.target.value }));
  $("refresh").addEventListener("click", () => render({ refresh: true }));
  $("signout").addEventListener("click", () => { forgetKey(); showLogin("Signed out."); });
  window.addEventListener("hashchange", () => render({ focus: true }));
}

async function render({ refresh = false, focus = false } = {}) {
  clearTimeout(timer);
  const ticket = ++rendering;
  const { name, arg } = route();
  syncControls();
  const v = { range: rangeOf(view), compare: view.compare, includeBots: view.includeBots, timezone,
    granularity: view.granularity === "AUTO" ? null : view.granularity };
  const started = performance.now();
  main.setAttribute("aria-busy", "true");
  try {
    const page = name === "tours" && arg ? await pages.tour(v, arg) : await pages[name](v);
    if (ticket !== rendering) return;
    if (!refresh || page.changed) {
      main.replaceChildren(h("h1", {}, page.title), page.node);
      window.dashboard.renders += 1;
      if (focus) {
        window.scrollTo(0, 0);
        main.focus({ preventScroll: true });
      }
    }
    document.title = `${page.title} · analytics`;
    if (page.tenant) {
      $("tenant-name").textContent = page.tenant.name;
      $("tz").textContent = `days in ${page.tenant.timezone}`;
      timezone = page.tenant.timezone;
    }
    if (window.dashboard.firstPaintMs == null) {
      window.dashboard.firstPaintMs = performance.now();
    }
    const ms = Math.round(performance.now() - started);
    status.textContent = `Updated ${new Date().toLocaleTimeString()} (${ms} ms${refresh && !page.changed ? ", unchanged" : ""})`;
    main.dataset.page = name === "tours" && arg ? "tour" : name;
  } catch (error) {
    if (ticket !== rendering) return;
    if (error instanceof GraphQLFailure && error.unauthorized) {
      forgetKey();
      showLogin(`The key was refused: ${error.message}`);
      return;
    }
    main.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "error", role: "alert" }, error.message));
    main.dataset.page = "error";
    window.dashboard.renders += 1;
  } finally {
    main.removeAttribute("aria-busy");
  }
  timer = setTimeout(() => render({ refresh: true }), name === "live" ? LIVE_MS : REFRESH_MS);
}

function start() {
  if (!storedKey()) {
    showLogin("");
    return;
  }
  $("top").hidden = false;
  render({ focus: false });
}

wireControls();
start();
