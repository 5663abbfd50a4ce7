// The dashboard's pages. Each takes the current view (range, compare, includeBots) and answers
// {title, node, changed}: `changed` is false when every query was a 304 (auto-refresh then keeps the page).

import { bars, card, changeCell, empty, emptyReason, fmt, h, lineChart, panel, run, table } from "./lib.js";

const PREVIOUS = "PREVIOUS_PERIOD";

function vars(view) {
  return { range: view.range, compare: view.compare ? PREVIOUS : null, includeBots: view.includeBots };
}

function periodLine(period) {
  if (!period) return null;
  const span = period.firstDay === period.lastDay ? period.firstDay : `${period.firstDay} – ${period.lastDay}`;
  return h("p", { class: "period", "data-period": `${period.firstDay}/${period.lastDay}` }, `${span} (${period.timezone})`);
}

function sourceRows(rows, compare, name) {
  return table(name, [["Source", (r) => r.key], ["Sessions", (r) => r.sessions, fmt.int],
    ["Share", (r) => r.share, fmt.pct], ...changeCell(compare)], rows,
  "No sessions in this period.", name);
}

export async function overview(view) {
  const { data, changed } = await run("DashboardOverview", { ...vars(view), granularity: view.granularity });
  const t = data.tenant;
  const o = t.overview;
  const s = o.sessions;
  const c = view.compare;
  const costs = t.costs.summary;
  const series = t.sessionSeries.points;
  const anySessions = series.some((p) => p.sessions > 0);
  const node = h("div", {},
    periodLine(o.period),
    h("div", { class: "cards" },
      card("sessions", "Sessions", s.sessions, fmt.int, c, { previous: s.previous?.sessions, change: s.change?.sessions }),
      card("visitors", "Visitors", s.visitors, fmt.int, c, { previous: s.previous?.visitors, change: s.change?.visitors }),
      card("pageViews", "Page views", s.pageViews, fmt.int, c, { previous: s.previous?.pageViews, change: s.change?.pageViews }),
      card("bounceRate", "Bounce rate", s.bounceRate, fmt.pct, c,
        { previous: s.previous?.bounceRate, change: s.change?.bounceRate, lowerIsBetter: true }),
      card("avgSessionDuration", "Visit duration", s.avgSessionDurationSeconds, fmt.secs, c,
        { previous: s.previous?.avgSessionDurationSeconds, change: s.change?.avgSessionDurationSeconds }),
      card("tourStarts", "Tour starts", o.totals.starts, fmt.int, c,
        { previous: o.totals.previous?.starts, change: o.totals.change?.starts }),
      card("tourCompletion", "Tour completion", o.totals.completionRate, fmt.pct, c,
        { previous: o.totals.previous?.completionRate, change: o.totals.change?.completionRate }),
      card("contentViews", "Content views", o.content.views, fmt.int, c,
        { previous: o.content.previous?.views, change: o.content.change?.views }),
      card("conversions", "Conversions", o.content.conversions, fmt.int, c,
        { previous: o.content.previous?.conversions, change: o.content.change?.conversions }),
      card("cost", "AI cost", costs.total, fmt.usd, c,
        { previous: costs.previous?.total, change: costs.change?.total, lowerIsBetter: true })),
    !view.includeBots && s.botSessions > 0
      ? h("p", { class: "callout", "data-bots-removed": s.botSessions },
        `${fmt.int(s.botSessions)} bot sessions are left out of these figures (Traffic shows why).`) : null,
    panel("Visitors over time", anySessions
      ? lineChart("sessions", "Sessions and visitors per bucket", series,
        [["Sessions", (p) => p.sessions], ["Visitors", (p) => p.visitors]], o.period.timezone, t.sessionSeries.granularity)
      : empty(emptyReason("sessions", { botSessions: s.botSessions, includeBots: view.includeBots }))),
    h("div", { class: "grid" },
      panel("Top sources", sourceRows(o.topSources, c, "top-sources")),
      panel("Top pages", table("top-pages", [["Landing page", (r) => r.key], ["Sessions", (r) => r.sessions, fmt.int],
        ["Share", (r) => r.share, fmt.pct], ...changeCell(c)], t.usage.topPages, "No page views in this period.", "top-pages")),
      panel("Tours",
        h("p", {}, `${fmt.int(o.activeTours)} active tours, combined completion ${fmt.pct(o.combinedCompletionRate)}.`),
        o.topTour ? h("p", {}, "Top tour: ", h("a", { href: `#/tours/${encodeURIComponent(o.topTour.tour.id)}` },
          o.topTour.tour.title || o.topTour.tour.id), ` — ${fmt.int(o.topTour.starts)} starts, ${fmt.pct(o.topTour.completionRate)} complete.`)
          : empty("No tour was started in this period."),
        o.needsAttention ? h("p", { class: "callout", "data-needs-attention": o.needsAttention.tour.id }, "Needs attention: ",
          h("a", { href: `#/tours/${encodeURIComponent(o.needsAttention.tour.id)}` }, o.needsAttention.tour.title || o.needsAttention.tour.id),
          ` loses ${fmt.pct(o.needsAttention.dropOff)} of its starters at step ${o.needsAttention.stepIndex + 1}` +
          `${o.needsAttention.stepTitle ? ` (${o.needsAttention.stepTitle})` : ""}.`) : null),
      panel("Content and costs",
        h("p", {}, `${fmt.int(o.content.views)} content views, ${fmt.int(o.content.ctaClicks)} CTA clicks, ` +
          `${fmt.int(o.content.conversions)} conversions.`),
        h("p", {}, `AI cost ${fmt.usd(costs.total)} over ${fmt.int(costs.requests)} requests.`),
        costs.unpricedTokens > 0 ? h("p", { class: "callout" },
          `${fmt.int(costs.unpricedTokens)} tokens have no price and are not in the cost.`) : null)));
  return { title: "Overview", node, changed, tenant: t };
}

export async function tours(view) {
  const { data, changed } = await run("DashboardTours", vars(view));
  const list = data.tenant.tours.nodes;
  const health = data.tenant.selectorHealth;
  const c = view.compare;
  const node = h("div", {},
    panel("Tours", table("tours", [
      ["Tour", (r) => r, (r) => h("a", { href: `#/tours/${encodeURIComponent(r.id)}` }, r.title || r.id)],
      ["Steps", (r) => r.steps.length, fmt.int],
      ["Starts", (r) => r.stats.starts, fmt.int],
      ["Completions", (r) => r.stats.completions, fmt.int],
      ["Completion", (r) => r.stats.completionRate, fmt.pct],
      ["Dismissal", (r) => r.stats.dismissalRate, fmt.pct],
      ["Target failures", (r) => r.stats.targetFailures, fmt.int],
      ...(c ? [["Starts change", (r) => r.stats.change?.starts, (v) => (v == null ? "–" : `${v > 0 ? "+" : ""}${v.toFixed(1)} %`)]] : []),
    ], list, "No tour is defined or seen yet: define one with defineTour or send tour events.", "tours")),
    panel("Selector health", health.selectors.length
      ? table("selectors", [["Selector", (r) => r.selector], ["Failures", (r) => r.failures, fmt.int],
        ["Tours", (r) => r.tourIds.join(", ")], ["Last seen", (r) => r.lastSeen.slice(0, 16).replace("T", " ")]],
      health.selectors, "", "selectors")
      : empty("No step target was missing in this period: every selector was found.")));
  return { title: "Tours", node, changed };
}

export async function tour(view, id) {
  const { data, changed } = await run("DashboardTour", { ...vars(view), id, granularity: view.granularity });
  const t = data.tenant.tour;
  if (!t) return { title: "Tour", node: empty(`No tour with the id ${id}.`), changed };
  const s = t.stats;
  const c = view.compare;
  const steps = t.funnel.steps;
  const worst = t.funnel.biggestDropOff?.index;
  const anyStarts = t.series.points.some((p) => p.starts > 0);
  const why = s.excludedAsBots > 0 && !view.includeBots
    ? `No starts from people in this period: ${fmt.int(s.excludedAsBots)} events of this tour were filtered as bots.`
    : "No one started this tour in this period.";
  const node = h("div", {},
    h("p", {}, h("a", { href: "#/tours" }, "← All tours")),
    h("div", { class: "cards" },
      card("starts", "Starts", s.starts, fmt.int, c, { previous: s.previous?.starts, change: s.change?.starts }),
      card("completions", "Completions", s.completions, fmt.int, c, { previous: s.previous?.completions, change: s.change?.completions }),
      card("completionRate", "Completion rate", s.completionRate, fmt.pct, c,
        { previous: s.previous?.completionRate, change: s.change?.completionRate }),
      card("dismissalRate", "Dismissal rate", s.dismissalRate, fmt.pct, c,
        { previous: s.previous?.dismissalRate, change: s.change?.dismissalRate, lowerIsBetter: true }),
      card("targetFailures", "Target failures", s.targetFailures, fmt.int, c,
        { previous: s.previous?.targetFailures, change: s.change?.targetFailures, lowerIsBetter: true })),
    panel("Starts and completions", anyStarts
      ? lineChart("tour-series", `Starts and completions of ${t.title || t.id}`, t.series.points,
        [["Starts", (p) => p.starts], ["Completions", (p) => p.completions]], view.timezone, t.series.granularity)
      : empty(why)),
    panel("Step funnel", steps.length && steps[0].users > 0
      ? bars("funnel", steps.map((step) => ({
        label: `${step.index + 1}. ${step.title || step.selector || "step"}`,
        value: step.users, worst: step.index === worst && step.dropOff > 0,
        text: `${fmt.int(step.users)} · ${fmt.pct(step.percentOfFirst)}`,
      })), steps[0].users)
      : empty(why)),
    panel("Selector health", t.selectorHealth.selectors.length
      ? table("tour-selectors", [["Selector", (r) => r.selector], ["Failures", (r) => r.failures, fmt.int],
        ["Pages", (r) => r.urls.join(", ")]], t.selectorHealth.selectors, "", "tour-selectors")
      : empty("No step target of this tour was missing in this period.")));
  return { title: t.title || t.id, node, changed };
}

export async function traffic(view) {
  const { data, changed } = await run("DashboardTraffic", vars(view));
  const tr = data.tenant.traffic;
  const c = view.compare;
  const b = tr.bots;
  const rows = (name, heading, list) => panel(heading, table(name, [[heading, (r) => r.key],
    ["Sessions", (r) => r.sessions, fmt.int], ["Visitors", (r) => r.visitors, fmt.int], ["Share", (r) => r.share, fmt.pct],
    ...changeCell(c)], list, tr.includeBots || b.excludedSessions === 0 ? "No sessions in this period."
    : emptyReason("sessions", { botSessions: b.excludedSessions }), name));
  const node = h("div", {},
    periodLine(tr.period),
    h("div", { class: "grid" },
      rows("sources", "Sources", tr.sources),
      rows("referrers", "Referrers", tr.referrers),
      panel("Campaigns", table("campaigns", [["Campaign", (r) => [r.utmSource, r.utmMedium, r.utmCampaign].filter(Boolean).join(" / ")],
        ["Sessions", (r) => r.sessions, fmt.int], ["Share", (r) => r.share, fmt.pct], ...changeCell(c)], tr.campaigns,
      "No session carried utm_source, utm_medium or utm_campaign in this period.", "campaigns")),
      rows("countries", "Countries", tr.countries),
      rows("devices", "Devices", tr.devices),
      rows("browsers", "Browsers", tr.browsers)),
    panel("What the bot filter removed",
      h("p", { "data-bot-summary": b.excludedSessions }, `${fmt.int(b.excludedSessions)} of ${fmt.int(b.totalSessions)} sessions ` +
        `(${fmt.pct(b.excludedShare)}) were flagged as bots` +
        (tr.includeBots ? "; they are included above because “Include bots” is ticked." : " and are left out above.")),
      h("div", { class: "grid" },
        table("bot-tiers", [["Tier", (r) => `${r.tier}. ${r.name}`], ["Sessions", (r) => r.sessions, fmt.int]], b.byTier,
          "No session was flagged as a bot in this period.", "bot-tiers"),
        table("bot-reasons", [["Reason", (r) => r.code], ["Tier", (r) => r.tier, fmt.int], ["Sessions", (r) => r.sessions, fmt.int]],
          b.byReason, "No bot reason was recorded in this period.", "bot-reasons"))));
  return { title: "Traffic and bots", node, changed };
}

export async function content(view) {
  const { data, changed } = await run("DashboardContent", vars(view));
  const ct = data.tenant.content;
  const s = ct.stats;
  const c = view.compare;
  const node = h("div", {},
    h("div", { class: "cards" },
      card("views", "Views", s.views, fmt.int, c, { previous: s.previous?.views, change: s.change?.views }),
      card("uniqueViews", "Unique viewers", s.uniqueViews, fmt.int, c, { previous: s.previous?.uniqueViews, change: s.change?.uniqueViews }),
      card("ctaClicks", "CTA clicks", s.ctaClicks, fmt.int, c, { previous: s.previous?.ctaClicks, change: s.change?.ctaClicks }),
      card("conversions", "Conversions", s.conversions, fmt.int, c, { previous: s.previous?.conversions, change: s.change?.conversions }),
      card("conversionRate", "Conversion rate", s.conversionRate, fmt.pct, c,
        { previous: s.previous?.conversionRate, change: s.change?.conversionRate }),
      card("avgTime", "Time on capsule", s.avgTimeOnContentSeconds, fmt.secs, c,
        { previous: s.previous?.avgTimeOnContentSeconds, change: s.change?.avgTimeOnContentSeconds })),
    panel("Top content", table("content-top", [["Content", (r) => r.contentId], ["Views", (r) => r.views, fmt.int],
      ["Unique", (r) => r.uniqueViews, fmt.int], ["CTA clicks", (r) => r.ctaClicks, fmt.int],
      ["Conversions", (r) => r.conversions, fmt.int], ["Conversion", (r) => r.conversionRate, fmt.pct]],
    ct.top, "No content (capsule) was viewed in this period.", "content-top")));
  return { title: "Content", node, changed };
}

export async function costs(view) {
  const { data, changed } = await run("DashboardCosts", vars(view));
  const k = data.tenant.costs;
  const s = k.summary;
  const c = view.compare;
  const breakdown = (name, heading, rows) => panel(heading, table(name, [[heading, (r) => r.key || "(none)"],
    ["Cost", (r) => r.cost, fmt.usd], ["Tokens", (r) => r.tokens, fmt.int], ["Unpriced tokens", (r) => r.unpricedTokens, fmt.int],
    ["Requests", (r) => r.requests, fmt.int], ["Share", (r) => r.share, fmt.pct]], rows,
  "No AI request was recorded in this period (send AIRequest events).", name));
  const node = h("div", {},
    h("div", { class: "cards" },
      card("total", "Cost", s.total, fmt.usd, c, { previous: s.previous?.total, change: s.change?.total, lowerIsBetter: true }),
      card("requests", "Requests", s.requests, fmt.int, c, { previous: s.previous?.requests, change: s.change?.requests }),
      card("unpricedTokens", "Unpriced tokens", s.unpricedTokens, fmt.int, c,
        { previous: s.previous?.unpricedTokens, change: s.change?.unpricedTokens, lowerIsBetter: true }),
      card("projectedMonth", "Projected month", s.projectedMonth, fmt.usd, false)),
    s.unpricedTokens > 0 ? h("div", { class: "callout", "data-unpriced": s.unpricedTokens },
      h("p", {}, `${fmt.int(s.unpricedTokens)} tokens have no price, so the cost above leaves them out:`),
      table("unpriced", [["Model", (r) => `${r.provider} / ${r.model}`], ["Usage", (r) => r.usageType],
        ["Tokens", (r) => r.tokens, fmt.int]], s.unpriced, "", "unpriced")) : null,
    breakdown("models", "Model", k.models), breakdown("agents", "Agent", k.agents), breakdown("tools", "Tool", k.tools));
  return { title: "Costs", node, changed };
}

export async function live(view) {
  const { data, changed } = await run("DashboardLive", { includeBots: view.includeBots });
  const list = data.tenant.liveSessions;
  const node = h("div", {},
    h("p", {}, h("span", { class: "live-dot", "aria-hidden": "true" }),
      h("span", { "data-figure": "live", "data-value": list.length }, `${fmt.int(list.length)} sessions active in the last 5 minutes`),
      " · refreshed every 5 seconds."),
    panel("Live sessions", table("live", [["Landing page", (r) => r.landingPage], ["Now on", (r) => r.exitPage],
      ["Pages", (r) => r.pageViews, fmt.int], ["Source", (r) => r.referrerSource], ["Country", (r) => r.country],
      ["Device", (r) => r.deviceType], ["Started", (r) => r.startedAt.slice(11, 19)]], list,
    "Nobody is on the site right now (no event in the last 5 minutes).", "live")));
  return { title: "Live", node, changed };
}

const TREND = { UP: ["▲", "up", "up"], DOWN: ["▼", "down", "down"], STABLE: ["▬", "", "stable"] };

export async function features(view) {
  const { data, changed } = await run("DashboardFeatures", vars(view));
  const fa = data.tenant.featureAdoption;
  const node = h("div", {},
    periodLine(fa.period),
    h("p", { class: "period" }, `Trends compare with ${fa.comparisonPeriod.firstDay} – ${fa.comparisonPeriod.lastDay}.`),
    panel("Feature adoption", table("features", [
      ["Feature", (r) => r.feature.name],
      ["Uses", (r) => r.usageCount, fmt.int],
      ["Users", (r) => r.uniqueUsers, fmt.int],
      ["Adoption", (r) => r.adoptionRate, fmt.pct],
      ["Before", (r) => r.previous.adoptionRate, fmt.pct],
      ["Trend", (r) => r.trend, (v) => h("span", { class: `delta ${TREND[v][1]}` },
        h("span", { "aria-hidden": "true" }, `${TREND[v][0]} `), TREND[v][2])],
    ], fa.features, "No feature is defined yet: define one with defineFeature (an event matcher).", "features")));
  return { title: "Feature adoption", node, changed };
}

export async function funnels(view) {
  const listed = await run("DashboardFunnels", {});
  // One query per funnel: a funnel's result is costed per step and day, the whole list at once is not.
  const answers = await Promise.all(listed.data.tenant.funnels.map((f) => run("DashboardFunnel", { ...vars(view), id: f.id })));
  const changed = listed.changed || answers.some((a) => a.changed);
  const list = answers.map((a) => a.data.tenant.funnel).filter(Boolean);
  const node = h("div", {}, list.length ? list.map((f) => {
    const r = f.result;
    const worst = r.biggestDropOff?.index;
    return panel(f.name,
      h("p", { "data-funnel": f.id, "data-value": r.entered },
        `${fmt.int(r.entered)} entered, ${fmt.int(r.converted)} converted (${fmt.pct(r.overallConversion)}` +
        `${view.compare && r.overallConversionChange != null ? `, ${r.overallConversionChange > 0 ? "+" : ""}${r.overallConversionChange.toFixed(1)} points` : ""}); ` +
        `${fmt.int(r.inProgress)} still in progress, ${fmt.int(r.dropped)} dropped.`),
      r.entered > 0
        ? bars(`funnel-${f.id}`, r.steps.map((s) => ({
          label: `${s.index + 1}. ${s.title}`, value: s.actors, worst: s.index === worst,
          text: `${fmt.int(s.actors)} · ${fmt.pct(s.conversionFromFirst)}` +
            (s.index > 0 ? ` · ${fmt.int(s.dropped)} dropped, ${fmt.int(s.inProgress)} in progress` : ""),
        })), r.steps[0].actors)
        : empty("Nobody entered this funnel in this period."));
  }) : empty("No funnel is defined yet: define one with defineFunnel."));
  return { title: "Funnels", node, changed };
}

export async function segments(view) {
  const { data, changed: listChanged } = await run("DashboardSegments", { range: view.range });
  const list = data.tenant.segments;
  // One query per segment: movements are per segment in the graph (segment(id) { movements }).
  const moved = await Promise.all(list.map((s) => run("DashboardSegmentMovements", { id: s.id, range: view.range })));
  const changed = listChanged || moved.some((a) => a.changed);
  const side = (name, builtIn) => name ?? (builtIn ? "(no built-in segment)" : "(outside the segment)");
  const node = h("div", {},
    h("p", { class: "period" }, "Membership as of the end of the period (segments count people, bots never join)."),
    panel("Segments", table("segments", [["Segment", (r) => r.name], ["People", (r) => r.size, fmt.int],
      ["Share", (r) => r.share, fmt.pct], ["Mean engagement", (r) => r.meanEngagement, (v) => (v == null ? "–" : v.toFixed(1))],
      ["Kind", (r) => (r.builtIn ? "built in" : "rule")]], list, "No segment has members yet.", "segments")),
    list.length ? panel("Movements in the period", list.map((s, i) => {
      const rows = moved[i].data.tenant.segment?.movements ?? [];
      return h("div", { class: "movements", "data-movements": s.id },
        h("h3", {}, s.name),
        table(`Movements of ${s.name}`, [
          ["From → to", (r) => `${side(r.from, s.builtIn)} → ${side(r.to, s.builtIn)}`],
          ["Users", (r) => r.users, fmt.int]], rows,
        s.builtIn
          ? "Nobody joined or left this segment in this period: everyone who was in it at the start stayed, and nobody new qualified."
          : "Nobody joined or left this segment in this period: its rule matched the same people at the start and the end.",
        `movements-${s.id}`));
    })) : null);
  return { title: "Segments", node, changed };
}

const VERDICT = { SHIP_VARIANT: "Ship the variant", KEEP_RUNNING: "Keep running", NO_DIFFERENCE: "No difference",
  INVESTIGATE_SRM: "Investigate the sample ratio mismatch", GUARDRAIL_FAILED: "A guardrail failed" };

export async function experiments(view) {
  const listed = await run("DashboardExperiments", {});
  const answers = await Promise.all(listed.data.tenant.experiments.map((e) => run("DashboardExperiment",
    { key: e.key, range: view.range, includeBots: view.includeBots })));
  const changed = listed.changed || answers.some((a) => a.changed);
  const list = listed.data.tenant.experiments.map((e, i) => ({ ...e, ...answers[i].data.tenant.experiment }));
  const interval = (v) => (v.relativeLiftLow == null ? "–"
    : `${v.relativeLiftLow.toFixed(1)} % to ${v.relativeLiftHigh.toFixed(1)} %`);
  const node = h("div", {}, list.length ? list.map((e) => {
    const r = e.results;
    const primary = r.metrics.find((m) => m.role === "PRIMARY") || r.metrics[0];
    return panel(`${e.key} (${e.status.toLowerCase()})`,
      e.description ? h("p", {}, e.description) : null,
      h("p", { class: r.recommendation === "SHIP_VARIANT" ? "" : "callout", "data-verdict": r.recommendation },
        `Verdict: ${VERDICT[r.recommendation] || r.recommendation}${r.winner ? ` (${r.winner})` : ""} · ` +
        `${fmt.int(r.exposures)} exposed · ${r.method}` + (r.sampleRatioMismatch ? " · sample ratio mismatch" : "")),
      primary ? table(`experiment-${e.key}`, [
        ["Variant", (v) => `${v.variant}${v.control ? " (control)" : ""}`],
        ["Exposed", (v) => v.exposures, fmt.int], ["Conversions", (v) => v.conversions, fmt.int],
        ["Rate", (v) => v.conversionRate, fmt.pct],
        ["Lift", (v) => v.relativeLift, (x) => (x == null ? "–" : `${x > 0 ? "+" : ""}${x.toFixed(1)} %`)],
        ["95 % interval", (v) => v, interval],
        ["p", (v) => v.pValue, (x) => (x == null ? "–" : x < 0.001 ? "< 0.001" : x.toFixed(3))],
        ["Significant", (v) => (v.control ? null : v.significant ? "yes" : "no"), (x) => x ?? "–"],
      ], primary.variants, "No one was exposed in this period.", `experiment-${e.key}`)
        : empty("This experiment has no metric results in this period."));
  }) : empty("No experiment is defined yet: define one with defineExperiment."));
  return { title: "Experiments", node, changed };
}
