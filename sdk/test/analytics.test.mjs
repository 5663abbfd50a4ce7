// The SDK against a fake browser: batching, retries under the same ids, Do Not Track / Global
// Privacy Control, engagement and the beacon on page hide, and the script-tag build.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import vm from "node:vm";

import { build, OUTPUT } from "../build.mjs";
import { createAnalytics, TRACK } from "../src/analytics.mjs";
import { answer, fakeBrowser, PAGE, settle } from "./fake_browser.mjs";

const ENDPOINT = "https://api.example.com/graphql";
const KEY = "pk_test";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function tracker(browser, options = {}) {
  return createAnalytics({ endpoint: ENDPOINT, key: KEY, autoPageView: false, ...options }, browser.env);
}

const ids = (request) => request.body.variables.events.map((event) => event.id);

test("events wait for a batch or the flush interval, then go in one request", async () => {
  const browser = fakeBrowser();
  const analytics = tracker(browser, { batchSize: 3 });
  analytics.tour("TourStarted", "onboarding");
  analytics.tour("StepViewed", "onboarding", { stepIndex: 0 });
  await settle();
  assert.equal(browser.requests.length, 0);
  assert.deepEqual(browser.pending(), [2000]);
  analytics.content("ContentViewed", "pricing-faq");
  await settle();
  assert.equal(browser.requests.length, 1);
  const [request] = browser.requests;
  assert.equal(request.url, ENDPOINT);
  assert.deepEqual(request.headers, { "Content-Type": "application/json", Authorization: `Bearer ${KEY}` });
  assert.equal(request.body.query, TRACK);
  const events = request.body.variables.events;
  assert.deepEqual(events.map((e) => [e.type, e.tourId ?? e.contentId, e.stepIndex]),
    [["TourStarted", "onboarding", undefined], ["StepViewed", "onboarding", 0],
      ["ContentViewed", "pricing-faq", undefined]]);
  assert.ok(events.every((e) => UUID.test(e.id) && e.url === PAGE && !Number.isNaN(Date.parse(e.timestamp))));
  assert.equal(new Set(ids(request)).size, 3);
  // Tour and content events count people: one anonymous id per tab until identify().
  assert.equal(new Set(events.map((e) => e.anonymousId)).size, 1);
  assert.match(events[0].anonymousId, UUID);
  assert.equal(analytics.pending, 0);

  analytics.identify("u_42");
  analytics.send("TourCompleted", { tourId: "onboarding" });
  assert.deepEqual(browser.pending(), [2000]); // the first timer was cancelled by the full batch
  await browser.runTimers();
  assert.equal(browser.requests.length, 2);
  const [completed] = browser.requests[1].body.variables.events;
  assert.equal(completed.userId, "u_42");
  assert.equal(completed.anonymousId, undefined);
});

test("a failed batch is sent again with the same event ids, backing off, then dropped", async () => {
  const browser = fakeBrowser();
  const analytics = tracker(browser, { batchSize: 2, maxAttempts: 4 });
  browser.answers.push(new TypeError("Failed to fetch"), answer(503, {}), answer(429, {}, { "Retry-After": "7" }));
  analytics.tour("TourStarted", "a");
  analytics.tour("TourStarted", "b");
  await settle();
  await browser.runTimers();
  await browser.runTimers();
  await browser.runTimers();
  assert.equal(browser.requests.length, 4);
  const first = ids(browser.requests[0]);
  assert.deepEqual(browser.requests.map(ids), [first, first, first, first]);
  // 1 s, 2 s, then the server's Retry-After (7 s) over the 4 s backoff.
  assert.deepEqual(browser.timers.map((t) => t.ms), [2000, 1000, 2000, 7000]);
  assert.equal(analytics.pending, 0);

  browser.answers.push(...Array(4).fill(new TypeError("Failed to fetch")));
  analytics.tour("TourStarted", "c");
  analytics.tour("TourStarted", "d");
  await settle();
  for (let i = 0; i < 3; i++) await browser.runTimers();
  assert.equal(browser.requests.length, 8);
  assert.equal(analytics.pending, 0); // four attempts failed: the batch was dropped
  assert.deepEqual(browser.pending(), []);
});

test("rejected events are settled, not retried, and the site owner is told why", async () => {
  const browser = fakeBrowser();
  const analytics = tracker(browser, { batchSize: 2 });
  browser.answers.push(answer(200, { data: { track: { accepted: 1, duplicates: 0, rejected: 1,
    rejections: [{ index: 1, field: "stepIndex", reason: "is required for StepViewed" }] } } }));
  analytics.tour("TourStarted", "a");
  analytics.tour("StepViewed", "a");
  await settle();
  await browser.runTimers();
  assert.equal(browser.requests.length, 1);
  assert.equal(analytics.pending, 0);
  assert.deepEqual(browser.warnings, ["analytics: StepViewed event rejected: stepIndex is required for StepViewed"]);
});

test("a revoked key stops tracking instead of retrying", async () => {
  const browser = fakeBrowser();
  const analytics = tracker(browser, { batchSize: 1 });
  browser.answers.push(answer(200, { errors: [{ message: "the API key is unknown or revoked",
    extensions: { code: "UNAUTHENTICATED" } }], data: null }));
  analytics.tour("TourStarted", "a");
  await settle();
  assert.equal(analytics.enabled, false);
  assert.deepEqual(browser.warnings, ["analytics: the API key is unknown or revoked; tracking stopped"]);
  assert.equal(analytics.tour("TourStarted", "b"), null);
  await browser.runTimers();
  assert.equal(browser.requests.length, 1);
});

for (const [name, signal] of [["Do Not Track", { doNotTrack: "1" }], ["Global Privacy Control", { globalPrivacyControl: true }]]) {
  test(`${name} is respected when the site owner asks`, async () => {
    const browser = fakeBrowser(signal);
    const analytics = tracker(browser, { respectPrivacy: true, autoPageView: true });
    assert.equal(analytics.enabled, false);
    assert.equal(analytics.tour("TourStarted", "a"), null);
    browser.hide();
    browser.fire("window", "pagehide");
    await browser.runTimers();
    assert.deepEqual([browser.requests, browser.beacons, browser.pending()], [[], [], []]);

    const notAsked = fakeBrowser(signal);
    const tracking = tracker(notAsked, { autoPageView: true, batchSize: 1 });
    await settle();
    assert.equal(tracking.enabled, true);
    assert.equal(notAsked.requests.length, 1);
  });
}

test("a page view, then engagement and every waiting event go by beacon when the page is hidden", async () => {
  const browser = fakeBrowser();
  const analytics = tracker(browser, { autoPageView: true });
  assert.equal(analytics.pending, 1);
  browser.now = 5000;
  browser.env.scrollY = 2400; // (2400 + 800) / 4000: 80 %
  browser.fire("window", "scroll");
  browser.fire("document", "click");
  browser.fire("document", "click");
  browser.fire("window", "blur"); // focused for the first 5 s only
  browser.now = 6000;
  analytics.tour("TourStarted", "onboarding");
  browser.hide();
  assert.equal(browser.requests.length, 0);
  assert.equal(browser.beacons.length, 1);
  const [beacon] = browser.beacons;
  assert.equal(beacon.url, `${ENDPOINT}?key=${KEY}`);
  assert.equal(beacon.type, "string"); // sent as text/plain: no preflight, no headers
  assert.equal(beacon.body.query, TRACK);
  const [view, tour, engagement] = beacon.body.variables.events;
  assert.deepEqual([view.type, tour.type, engagement.type], ["PageViewed", "TourStarted", "PageEngagement"]);
  assert.deepEqual(view.context, { title: "Pricing", locale: "en-GB", referrer: "https://www.google.com/",
    screenWidth: 1280, screenHeight: 800 });
  assert.equal(view.url, PAGE);
  // One tab is one visitor: its page views, engagement and tour events carry the same anonymous id.
  assert.match(view.anonymousId, UUID);
  assert.deepEqual([tour.anonymousId, engagement.anonymousId], [view.anonymousId, view.anonymousId]);
  assert.deepEqual(engagement.engagement, { timeOnPageMs: 6000, scrollDepth: 80, focusedMs: 5000, clicks: 2 });
  assert.equal(engagement.url, PAGE);
  assert.equal(analytics.pending, 0);
  assert.deepEqual(browser.pending(), []);

  browser.now = 6500;
  browser.fire("window", "pagehide"); // nothing new since: no second beacon
  assert.equal(browser.beacons.length, 1);
  browser.now = 60000; // hidden time does not count
  browser.show();
  browser.now = 61500;
  browser.fire("window", "pagehide"); // leaving: pagehide comes before visibilitychange
  browser.now = 61600;
  browser.hide();
  assert.equal(browser.beacons.length, 2);
  const [again] = browser.beacons[1].body.variables.events;
  assert.equal(again.type, "PageEngagement");
  assert.equal(again.engagement.timeOnPageMs, 7500); // cumulative: the API keeps the largest report
  assert.notEqual(again.id, engagement.id);
});

test("the tab's anonymous id outlives a page load; cookieless page events carry none", async () => {
  const browser = fakeBrowser();
  const first = tracker(browser, { autoPageView: true, batchSize: 1 });
  await settle();
  const [view] = browser.requests[0].body.variables.events;
  assert.match(view.anonymousId, UUID);
  // The next page of the same tab (same sessionStorage) is the same visitor.
  tracker(browser, { autoPageView: true, batchSize: 1 });
  await settle();
  assert.equal(browser.requests[1].body.variables.events[0].anonymousId, view.anonymousId);
  first.identify("u_42"); // signed in: the userId instead
  first.page("https://shop.example/account");
  await settle();
  const signedIn = browser.requests[2].body.variables.events[0];
  assert.deepEqual([signedIn.userId, signedIn.anonymousId], ["u_42", undefined]);

  // The site owner asked for cookieless page events: no id on them; tour events still need one.
  const other = fakeBrowser();
  const cookieless = tracker(other, { cookieless: true, autoPageView: true });
  cookieless.tour("TourStarted", "onboarding");
  other.now = 4000;
  other.hide();
  const [page, tour, engagement] = other.beacons[0].body.variables.events;
  assert.deepEqual([page.type, tour.type, engagement.type], ["PageViewed", "TourStarted", "PageEngagement"]);
  assert.deepEqual([page.anonymousId, engagement.anonymousId], [undefined, undefined]);
  assert.match(tour.anonymousId, UUID);
});

test("what a beacon could not take is sent with fetch, under the same ids", async () => {
  const browser = fakeBrowser({ beaconAccepts: false });
  const analytics = tracker(browser);
  analytics.tour("TourStarted", "a");
  browser.hide();
  await settle();
  assert.equal(browser.beacons.length, 1);
  assert.equal(browser.requests.length, 1);
  assert.deepEqual(ids(browser.requests[0]), browser.beacons[0].body.variables.events.map((e) => e.id));
  assert.equal(analytics.pending, 0);
});

test("the script-tag file is the build output of the module", () => {
  assert.equal(readFileSync(OUTPUT, "utf8"), build(), "run: node sdk/build.mjs");
});

test("the script tag reads its data attributes and exposes window.analytics", async () => {
  const browser = fakeBrowser();
  const window = browser.env;
  window.window = window;
  window.URL = URL;
  window.document.currentScript = { src: "https://api.example.com/sdk.js", dataset: { key: "pk_tag" } };
  vm.runInNewContext(readFileSync(OUTPUT, "utf8"), window);
  assert.equal(typeof window.analytics.tour, "function");
  assert.equal(window.analytics.pending, 1); // the page view
  await browser.runTimers();
  assert.equal(browser.requests[0].url, ENDPOINT);
  assert.equal(browser.requests[0].headers.Authorization, "Bearer pk_tag");
  assert.equal(browser.requests[0].body.variables.events[0].type, "PageViewed");

  const bare = fakeBrowser({ doNotTrack: "1" });
  bare.env.window = bare.env;
  bare.env.URL = URL;
  bare.env.document.currentScript = { src: "https://api.example.com/sdk.js",
    dataset: { respectPrivacy: "true" } };
  vm.runInNewContext(readFileSync(OUTPUT, "utf8"), bare.env);
  assert.deepEqual(Object.keys(bare.env.analytics), ["init", "version"]);
  const configured = bare.env.analytics.init({ key: "pk_code" });
  assert.equal(configured.enabled, false); // data-respect-privacy kept, and Do Not Track is on

  const plain = fakeBrowser();
  plain.env.window = plain.env;
  plain.env.URL = URL;
  plain.env.document.currentScript = { src: "https://api.example.com/sdk.js",
    dataset: { key: "pk_tag", cookieless: "true" } };
  vm.runInNewContext(readFileSync(OUTPUT, "utf8"), plain.env);
  await plain.runTimers();
  const [view] = plain.requests[0].body.variables.events;
  assert.deepEqual([view.type, view.anonymousId], ["PageViewed", undefined]); // data-cookieless
});

test("a key that is not publishable is refused before anything is sent", () => {
  const browser = fakeBrowser();
  for (const key of ["sk_live_secret", "secret", 42]) {
    assert.throws(() => createAnalytics({ endpoint: ENDPOINT, key }, browser.env), /publishable key \(pk_\.\.\.\)/);
  }
  assert.equal(browser.requests.length + browser.beacons.length, 0);
});
