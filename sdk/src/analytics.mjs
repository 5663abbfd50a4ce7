// The analytics-graph browser SDK: page views, engagement, tour and content events, batched to the
// API's `track` mutation. Every event gets a UUID when it is recorded and keeps it through retries,
// so the API counts a retried event once. No dependencies; `sdk/build.mjs` turns this module into
// the script-tag build the API serves at /sdk.js.

export const VERSION = "0.1.0";

export const TRACK =
  "mutation Track($events: [TrackEvent!]!) { track(events: $events) { accepted duplicates rejected " +
  "rejections { index field reason } } }";

// At most 1000 events a request (the API's limit); a beacon body stays under the browsers' 64 KB.
const MAX_BATCH = 500;
const BEACON_BYTES = 60000;
const FATAL_CODES = ["UNAUTHENTICATED", "FORBIDDEN"];
const MAX_MS = 86400000; // the API's limit of timeOnPageMs and focusedMs (a day)
const MAX_CLICKS = 100000;

export const DEFAULTS = {
  endpoint: "", // the API's /graphql URL
  key: "", // a publishable key (pk_...)
  batchSize: 20, // send as soon as this many events wait
  flushIntervalMs: 2000, // else this long after the first one
  maxAttempts: 6, // a batch is dropped after this many failed sends (backoff 1 s, 2 s, 4 s...)
  retryBaseMs: 1000,
  respectPrivacy: false, // true: send nothing when Do Not Track or Global Privacy Control is on
  autoPageView: true, // send a page view when created
  trackEngagement: true, // time on page, scroll depth, focus and clicks, reported when the page is hidden
  userId: null,
  anonymousId: null, // every event's without a userId; else one per browser tab (sessionStorage)
  cookieless: false, // true: page views and engagement carry no id (the API counts them by address and agent)
};

/** A random UUID (version 4), with crypto.randomUUID where the page is a secure context. */
export function uuid(crypto) {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The visitor asked not to be tracked: Do Not Track ("1") or Global Privacy Control. */
export function privacyRequested(env) {
  const nav = env.navigator || {};
  return nav.doNotTrack === "1" || env.doNotTrack === "1" || nav.globalPrivacyControl === true;
}

/**
 * A tracker bound to `env` (the browser's `window`, or a stand-in in tests).
 * Returns { page, tour, content, send, identify, flush, enabled }.
 */
export function createAnalytics(options, env = globalThis) {
  const settings = { ...DEFAULTS, ...options };
  if (!settings.endpoint || !settings.key) throw new Error("analytics: endpoint and key are required");
  if (!String(settings.key).startsWith("pk_")) {
    // A page is public and beacons carry the key in their URL: only a publishable key belongs here.
    throw new Error("analytics: use the tenant's publishable key (pk_...), never a secret key, in a web page");
  }
  const doc = env.document;
  const nav = env.navigator || {};
  const clock = () => (env.performance ? env.performance.now() : Date.now());
  let enabled = !(settings.respectPrivacy && privacyRequested(env));
  let queue = []; // recorded, not yet acknowledged (a batch in flight stays here until it is)
  let inFlight = null;
  let failures = 0;
  let timer = null;
  let userId = settings.userId;
  let anonymousId = settings.anonymousId;
  let view = null; // the current page view's engagement

  function tabId() {
    if (anonymousId) return anonymousId;
    try {
      const stored = env.sessionStorage.getItem("analytics-graph:anonymousId");
      anonymousId = stored || uuid(env.crypto);
      if (!stored) env.sessionStorage.setItem("analytics-graph:anonymousId", anonymousId);
    } catch {
      anonymousId = uuid(env.crypto); // storage blocked: one id for this page load
    }
    return anonymousId;
  }

  // `people`: the event carries the tab's anonymous id when there is no userId (tour and content
  // events always: the API needs one; page events unless cookieless), so one tab is one visitor.
  function record(type, fields, people) {
    if (!enabled) return null;
    const event = { id: uuid(env.crypto), type, timestamp: new Date().toISOString(), ...fields };
    if (userId) event.userId = userId;
    else if (people) event.anonymousId = tabId();
    queue.push(event);
    if (queue.length >= settings.batchSize) void flush();
    else if (!timer && !inFlight) timer = env.setTimeout(flush, settings.flushIntervalMs);
    return event.id;
  }

  function pageContext() {
    const context = { title: doc.title || undefined, locale: nav.language || undefined };
    if (doc.referrer) context.referrer = doc.referrer;
    if (env.screen) Object.assign(context, { screenWidth: env.screen.width, screenHeight: env.screen.height });
    return context;
  }

  function engagementReport() {
    if (!view) return null;
    const now = clock();
    const visible = view.visibleMs + (view.visibleSince === null ? 0 : now - view.visibleSince);
    const focused = view.focusedMs + (view.focusedSince === null ? 0 : now - view.focusedSince);
    return {
      timeOnPageMs: Math.min(MAX_MS, Math.round(visible)),
      scrollDepth: Math.round(view.scrollDepth * 10) / 10,
      focusedMs: Math.min(MAX_MS, Math.round(focused)),
      clicks: Math.min(MAX_CLICKS, view.clicks),
    };
  }

  function reportEngagement() {
    const engagement = settings.trackEngagement ? engagementReport() : null;
    if (!engagement || engagement.timeOnPageMs === view.reportedMs) return;
    view.reportedMs = engagement.timeOnPageMs; // reports are cumulative: the API keeps the largest
    record("PageEngagement", { url: view.url, engagement }, !settings.cookieless);
  }

  function measureScroll() {
    if (!view) return;
    const height = doc.documentElement ? doc.documentElement.scrollHeight : 0;
    const seen = (env.scrollY || 0) + (env.innerHeight || 0);
    const depth = height > 0 ? Math.min(100, (seen / height) * 100) : 100;
    if (depth > view.scrollDepth) view.scrollDepth = depth;
  }

  /** A page view of the current URL (or `url`); reports the previous page's engagement first. */
  function page(url) {
    if (view) reportEngagement();
    const now = clock();
    const visible = doc.visibilityState !== "hidden";
    const focused = typeof doc.hasFocus === "function" ? doc.hasFocus() : visible;
    view = { url: url || env.location.href, visibleMs: 0, visibleSince: visible ? now : null, focusedMs: 0,
      focusedSince: focused ? now : null, scrollDepth: 0, clicks: 0, reportedMs: null };
    measureScroll();
    return record("PageViewed", { url: view.url, context: pageContext() }, !settings.cookieless);
  }

  async function post(batch) {
    let response;
    try {
      response = await env.fetch(settings.endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${settings.key}` },
        body: JSON.stringify({ query: TRACK, variables: { events: batch } }),
      });
    } catch {
      return { retry: true }; // offline, or the browser refused the answer (CORS)
    }
    if (response.status === 429 || response.status >= 500) {
      const after = Number(response.headers.get("Retry-After")) || 0;
      return { retry: true, afterMs: after * 1000 };
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      return { retry: false }; // not the API's answer (a proxy's error page): sending again will not help
    }
    const code = body && body.errors && body.errors[0] && body.errors[0].extensions && body.errors[0].extensions.code;
    if (FATAL_CODES.includes(code)) {
      enabled = false; // a wrong or revoked key: sending again cannot help
      queue = [];
      env.console && env.console.warn(`analytics: ${body.errors[0].message}; tracking stopped`);
    }
    const rejection = body && body.data && body.data.track && body.data.track.rejections[0];
    if (rejection && env.console) {
      const event = batch[rejection.index];
      env.console.warn(`analytics: ${event.type} event rejected: ${rejection.field} ${rejection.reason}`);
    }
    return { retry: false }; // answered: accepted, duplicates and rejected events are all settled
  }

  /** Send what waits now (one batch at a time); resolves when that batch was answered or failed. */
  function flush() {
    if (timer) env.clearTimeout(timer);
    timer = null;
    if (inFlight || !queue.length) return inFlight || Promise.resolve();
    const batch = queue.slice(0, MAX_BATCH);
    inFlight = post(batch).then((outcome) => {
      inFlight = null;
      if (outcome.retry && ++failures < settings.maxAttempts) {
        const backoff = settings.retryBaseMs * 2 ** (failures - 1);
        timer = env.setTimeout(flush, Math.max(backoff, outcome.afterMs || 0)); // same events, same ids
        return;
      }
      failures = 0;
      queue = queue.filter((event) => !batch.includes(event));
      if (queue.length) timer = env.setTimeout(flush, queue.length >= settings.batchSize ? 0 : settings.flushIntervalMs);
    });
    return inFlight;
  }

  /** The page is going away (or hidden): report engagement and hand everything waiting to beacons. */
  function beacon() {
    reportEngagement();
    if (!queue.length) return;
    if (timer) env.clearTimeout(timer);
    timer = null;
    const url = `${settings.endpoint}${settings.endpoint.includes("?") ? "&" : "?"}key=${encodeURIComponent(settings.key)}`;
    let chunk = [];
    let size = 0;
    const chunks = [chunk];
    for (const event of queue) {
      const bytes = JSON.stringify(event).length + 1;
      if (chunk.length && (chunk.length >= MAX_BATCH || size + bytes > BEACON_BYTES)) {
        chunk = [];
        size = 0;
        chunks.push(chunk);
      }
      chunk.push(event);
      size += bytes;
    }
    const sent = [];
    for (const events of chunks) {
      // A string body goes as text/plain, which a beacon may send across origins without a preflight.
      const body = JSON.stringify({ query: TRACK, variables: { events } });
      if (typeof nav.sendBeacon === "function" && nav.sendBeacon(url, body)) sent.push(...events);
    }
    queue = queue.filter((event) => !sent.includes(event)); // what no beacon took waits for the next flush
    if (queue.length) void flush();
  }

  // A page being left fires pagehide, then visibilitychange: whichever comes first stops the
  // clocks and sends, so the second finds nothing new to report.
  function onHide() {
    const now = clock();
    if (view && view.visibleSince !== null) view.visibleMs += now - view.visibleSince;
    if (view && view.focusedSince !== null) view.focusedMs += now - view.focusedSince;
    if (view) view.visibleSince = view.focusedSince = null;
    beacon();
  }

  function onVisibility() {
    if (doc.visibilityState === "hidden") onHide();
    else if (view && view.visibleSince === null) view.visibleSince = clock();
  }

  if (enabled) {
    doc.addEventListener("visibilitychange", onVisibility);
    env.addEventListener("pagehide", onHide);
    env.addEventListener("scroll", measureScroll, { passive: true });
    env.addEventListener("focus", () => {
      if (view && view.focusedSince === null) view.focusedSince = clock();
    });
    env.addEventListener("blur", () => {
      if (view && view.focusedSince !== null) view.focusedMs += clock() - view.focusedSince;
      if (view) view.focusedSince = null;
    });
    doc.addEventListener("click", () => {
      if (view) view.clicks += 1;
    }, { capture: true, passive: true });
    if (settings.autoPageView) page();
  }

  return {
    page,
    /** A tour event: tour("StepViewed", "onboarding", { stepIndex: 0 }). */
    tour: (type, tourId, fields) => record(type, { url: env.location.href, ...fields, tourId }, true),
    /** A content (capsule) event: content("ContentCtaClicked", "pricing-faq", { capsule: {...} }). */
    content: (type, contentId, fields) => record(type, { url: env.location.href, ...fields, contentId }, true),
    /** Any event type of the API's catalogue, with its wire fields. */
    send: (type, fields) => record(type, { ...fields }, true),
    /** Name the signed-in user (null: signed out); later events carry it. */
    identify: (id) => {
      userId = id || null;
    },
    flush,
    beacon,
    get enabled() {
      return enabled;
    },
    get pending() {
      return queue.length;
    },
  };
}
