// The script-tag entry, placed after the module inside the IIFE by build.mjs: it reads the tag's
// data-* attributes and exposes the tracker as window.analytics. Without data-key it exposes
// window.analytics.init(options) instead, for pages that configure it in code.
(function install(window) {
  const script = window.document.currentScript;
  const data = (script && script.dataset) || {};
  const flag = (value, fallback) => (value === undefined ? fallback : value !== "false");
  const defaults = {
    endpoint: data.endpoint || (script && script.src ? new URL("graphql", script.src).href : ""),
    respectPrivacy: flag(data.respectPrivacy, false),
    autoPageView: flag(data.autoPageView, true),
    trackEngagement: flag(data.trackEngagement, true),
    cookieless: flag(data.cookieless, false),
  };
  const init = (options) => (window.analytics = createAnalytics({ ...defaults, ...options }, window));
  if (data.key) init({ key: data.key });
  else window.analytics = { init, version: VERSION };
})(window);
