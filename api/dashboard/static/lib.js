// Shared pieces of the dashboard: the GraphQL client (trusted documents by id over GET, revalidated
// with the ETag), number formatting, DOM helpers, figure cards with compare, tables, bars and charts.

import uPlot from "./uPlot.esm.js";

const manifest = JSON.parse(document.getElementById("dashboard-manifest").textContent);
const KEY_NAME = "analytics.dashboard.key";

export const net = { requests: 0, notModified: 0 };

// ---- the key: in sessionStorage, or localStorage when the person asked to be remembered ----
export function storedKey() {
  return sessionStorage.getItem(KEY_NAME) || localStorage.getItem(KEY_NAME) || "";
}
export function storeKey(key, remember) {
  forgetKey();
  (remember ? localStorage : sessionStorage).setItem(KEY_NAME, key);
}
export function forgetKey() {
  sessionStorage.removeItem(KEY_NAME);
  localStorage.removeItem(KEY_NAME);
  answers.clear();
}

export class GraphQLFailure extends Error {
  constructor(errors, status) {
    super(errors.map((e) => e.message).join("; "));
    this.codes = errors.map((e) => e.extensions?.code).filter(Boolean);
    this.status = status;
  }
  get unauthorized() {
    return this.status === 401 || this.codes.includes("UNAUTHENTICATED") || this.codes.includes("FORBIDDEN");
  }
}

// URL -> {etag, data}: a repeated query sends If-None-Match and an unchanged answer is a bodiless 304.
const answers = new Map();

/** Runs the dashboard's trusted document `name`; resolves to {data, changed}. */
export async function run(name, variables) {
  const id = manifest.documents[name];
  if (!id) throw new Error(`no trusted document named ${name}`);
  const params = new URLSearchParams({ documentId: id, operationName: name, variables: JSON.stringify(variables) });
  const url = `${manifest.endpoint}?${params}`;
  const headers = {
    Accept: "application/graphql-response+json, application/json;q=0.9",
    Authorization: `Bearer ${storedKey()}`,
  };
  const known = answers.get(url);
  if (known) headers["If-None-Match"] = known.etag;
  net.requests += 1;
  const response = await fetch(url, { headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
  if (response.status === 304 && known) {
    net.notModified += 1;
    return { data: known.data, changed: false };
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new GraphQLFailure([{ message: `the API answered HTTP ${response.status} without JSON` }], response.status);
  }
  if (body.errors && body.errors.length) throw new GraphQLFailure(body.errors, response.status);
  const etag = response.headers.get("ETag");
  if (etag) answers.set(url, { etag, data: body.data });
  return { data: body.data, changed: true };
}

// ---- formatting ----
const integer = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
export const fmt = {
  int: (v) => (v == null ? "–" : integer.format(v)),
  pct: (v) => (v == null ? "–" : `${decimal.format(v)} %`),
  secs: (v) => {
    if (v == null) return "–";
    const s = Math.round(v);
    return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
  },
  usd: (v) => (v == null ? "–" : new Intl.NumberFormat("en", { style: "currency", currency: "USD",
    maximumFractionDigits: v !== 0 && Math.abs(v) < 1 ? 4 : 2 }).format(v)),
  text: (v) => (v == null || v === "" ? "(none)" : String(v)),
};

// ---- DOM ----
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function empty(why) {
  return h("p", { class: "empty", "data-empty": "" }, why);
}

/** Why a figure or chart is empty: bots filtered, nothing in range. */
export function emptyReason(what, { botSessions = 0, includeBots = false } = {}) {
  if (!includeBots && botSessions > 0) {
    return `No ${what} from people in this period: all ${fmt.int(botSessions)} sessions were filtered as bots. ` +
      "Tick “Include bots” to see them.";
  }
  return `No ${what} in this period. Pick a longer period or check that events are being sent.`;
}

/** A figure card; with compare, the previous value and the relative change (percent). */
export function card(id, label, value, format, compare, { previous, change, lowerIsBetter = false } = {}) {
  const parts = [h("div", { class: "label", id: `label-${id}` }, label),
    h("div", { class: "value", "data-figure": id, "data-value": value == null ? "" : String(value) }, format(value))];
  if (compare) {
    let cls = "delta";
    let arrow = "";
    let words = "no change figure";
    if (change != null) {
      const good = lowerIsBetter ? change < 0 : change > 0;
      cls += change === 0 ? "" : good ? " up" : " down";
      arrow = change > 0 ? "▲ " : change < 0 ? "▼ " : "";
      words = `${change > 0 ? "up" : change < 0 ? "down" : "unchanged"} ${decimal.format(Math.abs(change))} %`;
    }
    parts.push(h("div", { class: cls, "data-change": id, "data-value": change == null ? "" : String(change) },
      h("span", { "aria-hidden": "true" }, change == null ? "– · " : `${arrow}${decimal.format(Math.abs(change))} % · `),
      h("span", { class: "sr-only" }, `${words}; `),
      `was ${format(previous)}`));
  }
  return h("div", { class: "card", role: "group", "aria-labelledby": `label-${id}` }, parts);
}

export function panel(title, ...content) {
  const id = `panel-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, title), content);
}

/** A table: columns are [heading, row => value, format?]; numeric cells carry data-value. */
export function table(caption, columns, rows, emptyWhy, name) {
  if (!rows || rows.length === 0) return empty(emptyWhy);
  return h("table", { "data-table": name || caption },
    h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, columns.map(([heading]) => h("th", { scope: "col" }, heading)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, get, format], i) => {
      const value = get(row);
      const cell = format ? format(value) : fmt.text(value);
      const raw = value == null || typeof value === "object" ? "" : String(value);
      return i === 0 ? h("th", { scope: "row" }, cell) : h("td", { "data-value": raw }, cell);
    })))));
}

export function changeCell(compare) {
  return compare ? [["Change", (r) => r.change?.sessions, (v) => (v == null ? "–" : `${v > 0 ? "+" : ""}${decimal.format(v)} %`)]] : [];
}

/** Horizontal bars (HTML, readable as text): rows of {label, value, text, worst}. */
export function bars(name, rows, max) {
  return h("div", { class: "bars", "data-bars": name, role: "list" }, rows.map((row) => {
    const bar = h("div", { class: "bar" });
    bar.style.width = `${max > 0 ? Math.max(0, (100 * row.value) / max) : 0}%`;
    return h("div", { class: `bar-row${row.worst ? " worst" : ""}`, role: "listitem", "data-value": row.value },
      h("span", { class: "bar-label" }, row.label),
      h("div", { class: "bar-track", "aria-hidden": "true" }, bar),
      h("span", {}, row.text));
  }));
}

const PALETTE = ["#1f5fbf", "#c2410c", "#13703a", "#7c3aed"];

/** A time series chart (uPlot) with a screen-reader table of the same points. */
const DAY = 86400;

export function lineChart(name, title, points, series, timezone, granularity = "DAY") {
  const holder = h("div", { class: "chart", "data-chart": name, role: "img", "aria-label": title });
  const xs = points.map((p) => Date.parse(p.start) / 1000);
  const data = [xs, ...series.map(([, get]) => points.map(get))];
  // The table sits in a clipped div: a table ignores `height`, so an sr-only table of many rows
  // (hourly buckets) would stretch the page.
  const summary = h("table", { "data-series": name, "data-granularity": granularity },
    h("caption", {}, title),
    h("tr", {}, h("th", {}, granularity === "HOUR" ? "Hour" : "Date"), series.map(([label]) => h("th", {}, label))),
    points.map((p) => h("tr", { "data-start": p.start }, h("td", {}, granularity === "HOUR" ? p.start : p.date),
      series.map(([, get]) => h("td", { "data-value": get(p) }, fmt.int(get(p)))))));
  const wrapper = h("div", {}, holder, h("div", { class: "sr-only" }, summary));
  requestAnimationFrame(() => {
    if (!holder.isConnected) return;
    const width = Math.max(260, holder.clientWidth || 600);
    const plot = new uPlot({
      width, height: 220,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), timezone || "UTC"),
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [granularity === "HOUR" ? { stroke: "#4a5360" } : {
        stroke: "#4a5360", incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY],
        values: (u, splits) => splits.map((ts) => new Intl.DateTimeFormat("en", { month: "short", day: "numeric",
          timeZone: timezone || "UTC" }).format(new Date(ts * 1000))),
      }, { stroke: "#4a5360", size: 50 }],
      series: [{}, ...series.map(([label], i) => ({ label, stroke: PALETTE[i % PALETTE.length], width: 2,
        points: { show: points.length < 40 } }))],
    }, data, holder);
    const resize = new ResizeObserver(() => {
      if (!holder.isConnected) { resize.disconnect(); plot.destroy(); return; }
      plot.setSize({ width: Math.max(260, holder.clientWidth), height: 220 });
    });
    resize.observe(holder);
  });
  return wrapper;
}
