// A minimal stand-in for `window` (navigator, document, location, timers, fetch, sendBeacon) that
// records what the SDK sends, for node's test runner. Timers run only when a test says so.

import { webcrypto } from "node:crypto";

export const PAGE = "https://shop.example.com/pricing";

export function answer(status, body, headers = {}) {
  return {
    status,
    headers: { get: (name) => headers[name] ?? null },
    json: async () => body,
  };
}

export const accepted = (count) =>
  answer(200, { data: { track: { accepted: count, duplicates: 0, rejected: 0, rejections: [] } } });

export function fakeBrowser({ doNotTrack, globalPrivacyControl, beaconAccepts = true } = {}) {
  const listeners = new Map();
  const on = (target) => (name, handler) => listeners.set(`${target}:${name}`, [
    ...(listeners.get(`${target}:${name}`) || []), handler]);
  const stored = new Map();
  const browser = {
    now: 0,
    requests: [], // {url, headers, body (parsed)}
    beacons: [], // {url, type of the body, body (parsed)}
    answers: [], // queued fetch outcomes: an answer(...) or an Error to throw
    timers: [], // {handler, ms, cancelled}
    warnings: [],
  };
  const env = {
    navigator: {
      language: "en-GB",
      doNotTrack,
      globalPrivacyControl,
      sendBeacon(url, body) {
        browser.beacons.push({ url, type: typeof body, body: JSON.parse(body) });
        return beaconAccepts;
      },
    },
    document: {
      title: "Pricing",
      referrer: "https://www.google.com/",
      visibilityState: "visible",
      hasFocus: () => true,
      documentElement: { scrollHeight: 4000 },
      addEventListener: on("document"),
      currentScript: null,
    },
    location: { href: PAGE },
    screen: { width: 1280, height: 800 },
    scrollY: 0,
    innerHeight: 800,
    performance: { now: () => browser.now },
    crypto: webcrypto,
    sessionStorage: { getItem: (k) => stored.get(k) ?? null, setItem: (k, v) => stored.set(k, String(v)) },
    console: { warn: (message) => browser.warnings.push(message) },
    addEventListener: on("window"),
    setTimeout(handler, ms) {
      browser.timers.push({ handler, ms, cancelled: false });
      return browser.timers.length;
    },
    clearTimeout(id) {
      if (browser.timers[id - 1]) browser.timers[id - 1].cancelled = true;
    },
    async fetch(url, init) {
      browser.requests.push({ url, headers: init.headers, body: JSON.parse(init.body) });
      const next = browser.answers.shift() ?? accepted(JSON.parse(init.body).variables.events.length);
      if (next instanceof Error) throw next;
      return next;
    },
  };
  browser.env = env;
  /** Fire the listeners of `target` ("window" or "document") for `name`. */
  browser.fire = (target, name) => (listeners.get(`${target}:${name}`) || []).forEach((handler) => handler({}));
  /** The delays of timers still pending. */
  browser.pending = () => browser.timers.filter((t) => !t.cancelled && !t.ran).map((t) => t.ms);
  /** Run the timers pending now (not the ones they set), then let their promises settle. */
  browser.runTimers = async () => {
    for (const timer of browser.timers.filter((t) => !t.cancelled && !t.ran)) {
      timer.ran = true;
      await timer.handler();
    }
    await settle();
  };
  browser.hide = () => {
    env.document.visibilityState = "hidden";
    browser.fire("document", "visibilitychange");
  };
  browser.show = () => {
    env.document.visibilityState = "visible";
    browser.fire("document", "visibilitychange");
  };
  return browser;
}

export async function settle() {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}
