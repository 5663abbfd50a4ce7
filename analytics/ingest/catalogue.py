"""The event catalogue: which event types exist and which counter each one increments."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventKind:
    """One event type of the catalogue (reference: tour analytics, tracked metrics)."""

    name: str
    entity_type: str | None  # "tour" or "content"; None when the event names either
    metric: str
    description: str
    requires_step: bool = False
    requires_selector: bool = False
    requires_url: bool = False
    requires_engagement: bool = False
    # Fields of the event's nested objects it needs, as wire paths ("capsule.role").
    requires_details: tuple[str, ...] = ()
    rolled_up: bool = True  # folded into the tour/content counters (page events feed sessions)
    # Needs userId or anonymousId: counters count people. Page events do not (cookieless visitors).
    counts_people: bool = True
    # Keys its properties object must hold as short text ("experiment"), reported as "properties.<key>".
    requires_properties: tuple[str, ...] = ()


TOUR = "tour"
CONTENT = "content"
PAGE = "page"
PRODUCT = "product"
CUSTOM = "Custom"  # the type of a product event; its own name is the event's ``name``
AI = "ai"  # AI operations: costs, requests, agents, tools (analytics.ai)
AI_REQUEST = "AIRequest"
TOOL_CALL = "ToolCall"
EXPERIMENT = "experiment"
EXPOSURE = "ExperimentExposure"

CATALOGUE: dict[str, EventKind] = {
    kind.name: kind
    for kind in (
        EventKind("TourStarted", TOUR, "starts", "User began the tour"),
        EventKind("StepViewed", TOUR, "step_views", "User saw a specific step", requires_step=True),
        EventKind("StepCompleted", TOUR, "step_completions", "User advanced past a step",
                  requires_step=True),
        EventKind("TourCompleted", TOUR, "completions", "User finished all steps"),
        EventKind("TourDismissed", TOUR, "dismissals", "User closed the tour early"),
        EventKind("TourRestarted", TOUR, "restarts", "User restarted the tour"),
        EventKind("ContentViewed", CONTENT, "views", "User saw the content"),
        EventKind("ContentDismissed", CONTENT, "dismissals", "User dismissed the content"),
        EventKind("ContentCtaClicked", CONTENT, "cta_clicks",
                  "User clicked the call-to-action; capsule.ctaId and ctaType may name it"),
        EventKind("ContentConverted", CONTENT, "conversions",
                  "A conversion attributed to the content; capsule.ctaId and ctaType may name its "
                  "call-to-action"),
        EventKind("ConversationMessage", CONTENT, "messages",
                  "One message of a conversation in the capsule; needs capsule.conversationId and "
                  "capsule.role", requires_details=("capsule.conversationId", "capsule.role")),
        EventKind("ContentAssetViewed", CONTENT, "asset_views",
                  "A document or video opened in the capsule; needs capsule.assetId and "
                  "capsule.assetKind", requires_details=("capsule.assetId", "capsule.assetKind")),
        EventKind("VideoCompleted", CONTENT, "video_completions",
                  "A video of the capsule watched to the end; needs capsule.assetId",
                  requires_details=("capsule.assetId",)),
        EventKind("ContentEngagement", CONTENT, "engagements",
                  "Time on the capsule and scroll depth; needs engagement.timeOnPageMs",
                  requires_details=("engagement.timeOnPageMs",)),
        EventKind("target_not_found", None, "target_failures",
                  "SDK could not locate the target element (tourId or contentId names whose)",
                  requires_selector=True),
        EventKind("PageViewed", PAGE, "page_views", "A page was viewed (url required)",
                  requires_url=True, rolled_up=False, counts_people=False),
        EventKind("PageEngagement", PAGE, "engagements",
                  "Scroll depth, time on page, focus and clicks of a page view (url and engagement "
                  "required)", requires_url=True, requires_engagement=True, rolled_up=False,
                  counts_people=False),
        EventKind(CUSTOM, PRODUCT, "events",
                  "A product event of your own: name it with name (letters, digits, _ . : - / and "
                  "spaces, at most 100 characters; not a name of this catalogue) and describe it with "
                  "properties", rolled_up=False),
        EventKind(AI_REQUEST, AI, "requests",
                  "A call to a model: ai.provider and ai.model required; tokens, latency, status and an "
                  "optional client-known cost in ai (OpenTelemetry GenAI names)",
                  requires_details=("ai.provider", "ai.model"), rolled_up=False, counts_people=False),
        EventKind(TOOL_CALL, AI, "tool_calls",
                  "An agent's tool call: ai.tool required; agent, conversation, duration, status and an "
                  "optional cost in ai", requires_details=("ai.tool",), rolled_up=False, counts_people=False),
        EventKind(EXPOSURE, EXPERIMENT, "exposures",
                  "The person saw a variant of an experiment: properties.experiment (its key) and "
                  "properties.variant (the variant's key)", rolled_up=False,
                  requires_properties=("experiment", "variant")),
    )
}
# Events that may carry ``ai`` details: AI operations and a conversation turn's agent.
AI_DETAILED = frozenset({AI_REQUEST, TOOL_CALL, "ConversationMessage"})

EVENT_TYPES = tuple(CATALOGUE)

# Counters a tour has, in the order the graph shows them.
TOUR_METRICS = ("starts", "completions", "dismissals", "restarts", "step_views",
                "step_completions", "target_failures")
# Metrics whose distinct users are kept per day (funnels, user status, unique counts).
USER_METRICS = frozenset({"starts", "completions", "dismissals", "step_views", "views", "cta_clicks",
                          "conversions"})
