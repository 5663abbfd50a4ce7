"""The project's own tier-1 lists: the kinds the maintained lists miss or mislabel, and the allow side.

``OWN_LISTS`` are searched before the maintained lists (``bot_lists``) and name their kind; the
order of the table is the order of precedence (an AI agent is not reported as a crawler). The last
entry (plain crawlers the lists miss, and the ``(compatible; ... +http://...)`` signature) only
decides when no maintained list names the agent, whose entry is more telling.

The allow side, applied only to an agent some list matched, in this order:

1. Harmless text is removed and the lists are searched again (``HARMLESS``): Chrome's network stack
   ``Cronet`` (crawlerdetect's ``cron``), and the device part of an Android platform segment
   ``(Linux; Android 14; <model> Build/...)``, where models such as "XBot Junior", "C Bot Tab 70"
   or "Panasonic" ("sonic") live, and a TV's ``HbbTV/1.6.1 (...)`` brand and model (the BOTECH
   brand). No crawler names itself there.
2. An agent that still carries an explicit crawler token (``EXPLICIT_CRAWLER``: ``...bot``,
   ``crawler``, ``spider``, a ``+http://`` link unless beside a phone or Apple platform, or a hit in
   the project's own lists) is a bot: no allow rule rescues it.
3. Otherwise a known real client (``REAL_CLIENTS``: office and mail apps, media players and podcast
   apps, download managers, text browsers, in-app browsers with a full mobile engine) is human.

``GENERIC`` is the last word, for an agent no list names at all (measured on agents each maintained
list knows alone, ``bench/bots.py --held-out``): a contact e-mail address, the crawler convention
of a ``+http://`` contact link (not beside a phone or Apple platform: podcast apps carry one too),
or a word only automated clients call themselves (``scanner``, ``uptime``, ``unfurl``...), unless a
known real client carries it. ``GENERIC_OFF_DEVICE`` words (``audit``, ``diagnostics``, ``api client``,
``user agent``...) count only away from a phone or Apple platform; a name inside the engine's
``(KHTML, like Gecko; ...)`` and a bare ``Mozilla/5.0 (compatible; Name/1.0)`` shell
(``MOZILLA_SHELL``, when the device parser finds no OS or device in it) count too.
"""

from __future__ import annotations

import re
from typing import Any

import re2

from analytics.traffic.bot_lists import BotReason, re2_options

OWN_SOURCE = "analytics"

OWN_LISTS: tuple[tuple[BotReason, str], ...] = (
    (BotReason.HEADLESS,
     r"headless|phantomjs|slimerjs|playwright|selenium|puppeteer|webdriver|cypress/|"
     r"\(khtml, like gecko\) (?:chrome/[\d.]+ )?electron/|\bjsdom/|\bsplash\b.*qtwebkit|zombie\.js"),
    (BotReason.AI_AGENT,
     r"chatgpt-user|chatgpt agent|claude-user|perplexity-?user|mistralai-user|meta-externalfetcher|"
     r"gemini-deep-research|google-notebooklm|\bmanus(?:-user)?/|manus\.im|\bdevin/|devin\.ai|"
     r"duckassistbot|novellum|operator/|\bMCP-?(?:client|fetch)"),
    (BotReason.AI_CRAWLER,
     r"gptbot|oai-searchbot|claudebot|claude-web|claude-searchbot|anthropic-ai|perplexitybot|ccbot|"
     r"bytespider|amazonbot|meta-externalagent|facebookbot|cohere-ai|cohere-training|diffbot|youbot|"
     r"timpibot|ai2bot|google-cloudvertexbot|imagesiftbot|pangubot|omgili|webzio|kangaroo bot|"
     r"applebot-extended|petalbot|img2dataset|friendlycrawler|iaskspider|isscyberriskcrawler"),
    (BotReason.SEO_TOOL,
     r"ahrefs|semrush|mj12bot|dotbot|rogerbot|screaming frog|serpstatbot|blexbot|dataforseobot|"
     r"barkrowler|siteauditbot|megaindex|sistrix|seokicks|seobilitybot|sitebulb|oncrawl|deepcrawl|"
     r"lumar|contentking|siteimprove|seranking|linkdex|chrome-lighthouse|pagespeed|gtmetrix|pa11y|"
     r"axe-core|cookiebot|onetrust|cookieyes|usercentrics|w3c_validator|validator\.nu|w3c-checklink"),
    (BotReason.MONITOR,
     r"route53-health-check|route 53 health check|health[- ]?check|appinsights|alwayson|traffic-manager|"
     r"pingdom|uptimerobot|"
     r"statuscake|site24x7|newrelicpinger|newrelicsynthetics|datadogsynthetics|datadog agent|"
     r"catchpoint|googlehc/|kube-probe|betteruptime|better uptime|checkly|hetrixtools|uptime-kuma|"
     r"freshping|check_http|nagios|zabbix|googlestackdrivermonitoring|ruxitsynthetic|dynatrace|"
     r"monitis|blackbox exporter|prtg|uptime|synthetic|elastic-heartbeat|gatus|updown\.io|"
     r"cloudflare-healthchecks|azure traffic manager|statuspage|oh dear|ohdear|hyperping"),
    (BotReason.SECURITY_SCANNER,
     r"\bscann(?:er|ing)\b|\$\{jndi:|\$\{[a-z:]*\$\{|\$\{\$|\(\) \{ :;\s*\};|<script|' or '1'='1|"
     r"nuclei|zgrab|masscan|"
     r"\bnmap\b|sqlmap|nikto|acunetix|burpcollaborator|qualys|nessus|openvas|wpscan|censysinspect|"
     r"censys|shodan|expanse|paloaltonetworks|internet-measurement|securitytrails|detectify|"
     r"certspotter|ssllabs|hardenize|l9explore|leakix|netcraft|intrigue|httpx - open-source|"
     r"projectdiscovery|fuzz faster|gobuster|dirbuster|wfuzz|whatweb|zmap|modat|odin\.io|"
     r"internetmeasurement|criminalip|onyphe|binaryedge"),
    (BotReason.SERVICE_AGENT,
     r"github-hookshot|stripe/1\.0|shopify-captain-hook|zapier|twilio|hubspot|atlassian|"
     r"bitbucket-webhooks|gitlab/|svix-webhooks|webhook|ifttt|integromat|make\.com|\bn8n\b|"
     r"power automate|azure-logic-apps|logicapps|google-apps-script|mailchimp|sendgrid|intercom|"
     r"pagerduty|slackbot 1\.0|wordpress/[\d.]+;|jetpack by wordpress|paypal ipn|braintree|"
     r"square webhooks|docusign|salesforce|segment\.io|rudderstack|mandrill|postmark|airtable"),
    (BotReason.FEED_FETCHER,
     r"feedly|feedbin|inoreader|newsblur|tiny tiny rss|freshrss|miniflux|feedfetcher|feedburner|"
     r"feedspot|feedvalidator|rss2email|feeder\.co|feedpress|superfeedr|"
     r"mastodon/|pleroma|akkoma|misskey|friendica|lemmy|peertube|gotosocial|pixelfed|diaspora|"
     r"hubzilla|calckey|firefish|sharkey|iceshrimp|writefreely|takahe|fedify|bridgy|"
     r"activitypub|wallabag|instapaper|pocket(?:parser)?/|readwise|omnivore"),
    (BotReason.LINK_PREVIEW,
     r"facebookexternalhit|facebookcatalog|facebot|twitterbot|linkedinbot|slackbot-linkexpanding|"
     r"slack-imgproxy|discordbot|telegrambot|skypeuripreview|iframely|embedly|redditbot|"
     r"pinterestbot|vkshare|googleimageproxy|image ?proxy|yahoomailproxy|github-camo|camo asset proxy|"
     r"bitlybot|"
     r"microsoftpreview|bingpreview|mattermost-bot|rocket\.chat|whatsapp/[\d.]+ [aiw]$|"
     r"whatsapp/[\d.]+$|linkpreview|unfurl|opengraph|og-scraper|"
     r"google-pagerenderer|tumblr/|flipboardproxy|nuzzel|outbrain|zoombot|chatwork|kakaotalk-scrap|"
     r"line-poker|naver blog|qwantify|embed\.ly|xing-contenttabreceiver|bluesky cardyb"),
    (BotReason.ARCHIVER,
     r"archive\.org_bot|ia_archiver|heritrix|archiveteam|archivebot|wayback|archive\.today|"
     r"archive\.ph|common ?crawl|webrecorder|browsertrix|nutch|turnitin|cispa|dataprovider|"
     r"researchscan|netestate|academicbot|scholarbot|semanticscholar|grapeshot|httrack|webcopier|"
     r"teleport ?pro|offline explorer|sitesucker|webzip"),
    (BotReason.HTTP_LIBRARY,
     r"^(?:python-requests/|python-httpx/|python-urllib|python/|aiohttp/|curl/|wget/|go-http-client/|"
     r"axios/|node-fetch|node$|node\.js|undici|deno/|bun/|okhttp/|java/|java-http-client|"
     r"apache-httpclient/|libwww-perl/|guzzlehttp/|ruby|httpie/|postmanruntime/|insomnia/|"
     r"scrapy/|reqwest/|dart/|php/|rest-client/|got \(|got/|libcurl|pycurl|faraday|typhoeus|"
     r"http\.rb|restsharp|unirest|superagent|hackney|mechanize|www-mechanize|lwp::|httpclient|"
     r"fasthttp|colly|resty|ky/|ofetch|needle/|request/|winhttp|cpprestsdk|powershell)"),
    (BotReason.CRAWLER,
     r"google-inspectiontool|storebot-google|google-read-aloud|duplexweb-google|googleother|"
     r"google-safety|adsbot-google|mediapartners-google|apis-google|yandex\.com/bots|prerender|"
     r"\(compatible; [^)]*\+https?://"),
)

# An app on a person's phone or Mac may carry its site's link too (podcast players): a link beside a
# device platform is no sign.
_LINK = re2.compile(r"^\+ ?(?:https?://|www\.)", re2_options())
_DEVICE_PLATFORM = re2.compile(r"android|iphone|ipad|\bios\b|darwin", re2_options())
# Removed before the lists are searched a second time (allow step 1).
HARMLESS = re.compile(
    r"\bCronet\w*(?:/[\d.]+)?"
    r"|(?<=Android)( [\d.]+;(?: ?[a-z]{2}[-_][a-z]{2};)?)[^;)]*"
    r"|\bDevice/[\w.-]+"
    # A TV's HbbTV or FVC segment names its brand and model: (+DRM; LGE/KTC/BOTECH; 58BSE9503; ...)
    r"|\b(?:HbbTV|FVC)/[\d.]+ \([^)]*\)",
    re.IGNORECASE)
EXPLICIT_CRAWLER = re2.compile(r"[a-z0-9_.-]*(?:bot|crawler|spider)\b|\+https?://", re2_options())


def explicit_crawler(agent: str) -> bool:
    """A crawler token, or the ``+http://`` contact link away from a phone or Apple platform (a
    podcast app on Android carries its site's link too)."""
    found = EXPLICIT_CRAWLER.search(agent)
    return bool(found) and not (_LINK.search(found.group(0)) and _DEVICE_PLATFORM.search(agent))
REAL_CLIENTS = re2.compile(
    r"microsoft office|msoffice|microsoft outlook|\bonenote\b|ms-office|^mail/[\d.]+ cfnetwork/|"
    r"^whatsapp/[\d.]+ (?:android|iphone_os|ios)/|podcastaddict|podimo|goodreader|victorreader|"
    r"\blibvlc|\bvlc/|jriver|androiddownloadmanager|free download manager|\bfdm\b|"
    r"^lynx/|\bamaya/|^links \(|^w3m/|^elinks|mosaic|"
    r"yasearchbrowser|yabrowser|yandexsearch|\bzen/|yaapp_android|yandexstation|"
    r"sogoumobilebrowser|sogoumse|sogousearch|\bsgi/|se [\d.]+x metasr|"
    r"^slack/\d+ cfnetwork|^word/[\d.]+ \(|^reeder/|j\. river|amigavoyager|offbyone|yandex\.music|"
    r"podcast|podcatcher|podfriend|podpuppy|^castero|^cpod/|^anytime/|feedstation|rssdemon|airsonic|"
    r"\(windows nt [\d.]+;[^)]*trident/|"
    # In-app browsers: a full mobile engine and the app's own token.
    r"^mozilla/5\.0 \((?:linux; (?:u; )?android|iphone|ipad)[^)]*\) applewebkit/[\d.]+ \(khtml,? like gecko\)"
    r".*(?:fban|fbav|instagram|sogou|viber|whatsapp|line/|micromessenger|weibo|\bqq/|baiduboxapp|"
    r"ucbrowser|quark|heytap|yandex|yabrowser|\bzen/|gsa/|snapchat|tiktok|musical_ly|bytedancewebview|"
    r"pinterest|twitter for|linkedinapp|kakaotalk|naver|daum|telegram|discord|searchlite)",
    re2_options())
BROWSER_TOKEN = re2.compile(
    r"^mozilla/|^opera/|applewebkit/|gecko/|trident/|presto/|chrome/|safari/|firefox/|edg/|"
    r"\bcfnetwork/|dalvik/|\bdarwin/|okhttp|android|iphone|ipad|windows nt|macintosh|"
    # Platforms and device stacks apps name without a browser token (TVs, watches, speakers,
    # media players), read from device-detector's app fixtures.
    r"\b(?:i|mac|watch|tv|ipad|vision)os\b|\bwin(?:7|8|10|11|64)\b|\bx64\)|roku|vizios|airplay/|dlnadoc/|upnp/|"
    r"qtwebkit|garmin|^amazon;|\bkepler/|player\b",
    re2_options())

# Kinds of the generic signs, in order: the first whose words match names the kind.
GENERIC: tuple[tuple[BotReason, str], ...] = (
    (BotReason.SECURITY_SCANNER, r"\b(?:scanner|prober?)\b"),
    (BotReason.MONITOR, r"\b(?:monitor(?:ing)?|checker|healthcheck|uptime|validator)\b"),
    (BotReason.LINK_PREVIEW, r"\b(?:preview|unfurl(?:er)?|screenshot)\b"),
    (BotReason.FEED_FETCHER, r"\bfeed ?fetcher\b"),
    (BotReason.ARCHIVER, r"\barchiver\b"),
    (BotReason.CRAWLER, r"\b(?:crawler|spider|scraper|fetcher|harvester|indexer)\b|"
                        r"[a-z0-9._-]+@[a-z0-9-]+\.[a-z]{2,}|\+ ?https?://|\+ ?www\."),
)
# Words automated clients call themselves that an app on a phone or a Mac could also carry in its
# name (a document scanner, a fitness tracker): a sign only away from a phone or Apple platform.
# Read from the agents the maintained lists know and each other list misses (bench/bots.py
# --held-out on crawler-user-agents' and device-detector's sets), checked on sets no rule was read
# from (woothee's and uap-core's test agents).
GENERIC_OFF_DEVICE: tuple[tuple[BotReason, str], ...] = (
    (BotReason.SECURITY_SCANNER, r"\bscans?\b|(?-i:[a-z]Scans?)\b|\brecon\b|exploit|phish|fingerprint|"
                                 r"\bsec-?txt\b|security[.-]dot[.-]txt|\bdcv\b|<\?"),
    (BotReason.MONITOR, r"diagnostics?\b|healthz|watch(?:er|dog|agent)\b|\bwebmon\b|loadtime|speed-?test|"
                        r"\bping\b|pingping"),
    (BotReason.SEO_TOOL, r"audit"),
    (BotReason.SERVICE_AGENT, r"api[ -]client|\bconnector\b|webhook|\bhook\b|gitops|import(?:er|manager)\b|"
                              r"verif(?:y|ier|ication)\b|lookup"),
    # A script's HTTP client, or its default or unfilled agent.
    (BotReason.HTTP_LIBRARY, r"http-?client|http request|request object|user[ -]?agent|\{\{|placeholder|"
                             r"\bdummy\b"),
    (BotReason.CRAWLER, r"research|measurement|finder|searcher|indexinfo|searchengine|"
                        r"lead ?(?:gen|radar|discovery)|prospect|import ?domains"),
)
# Forms no person's client sends: a Mozilla token with no platform and no engine, only a product
# name (``Mozilla/5.0 (compatible; Dormouse/1.0)``, ``Mozilla/5.0 xtate/2.12``), for an agent in
# which the device parser finds no OS or device either (``agents``); and a name put inside the
# engine's own ``(KHTML, like Gecko; ...)`` (Google's special-purpose fetchers).
_NAME = r"[a-z][\w.-]*(?:/v?[\w.-]+)?"
MOZILLA_SHELL = re2.compile(
    rf"^mozilla/\d[\d.]* (?:\(compatible; ?{_NAME}"
    r"(?:; ?(?:\+ ?)?(?:https?://|www\.|visit |[\w.-]+@|[\w.-]+\[at\])[^;()]*)?\)"
    rf"|\({_NAME}\)|{_NAME})$", re2_options())
NAME_IN_ENGINE_PATTERN = r"\(khtml, like gecko; [^)]+\)"
NAME_IN_ENGINE = re2.compile(NAME_IN_ENGINE_PATTERN, re2_options())
_GENERIC_EXPRESSIONS = tuple(re2.compile(pattern, re2_options()) for _, pattern in GENERIC)
_OFF_DEVICE_EXPRESSIONS = tuple(re2.compile(pattern, re2_options()) for _, pattern in GENERIC_OFF_DEVICE)
# One pass over an ordinary browser's agent answers "no sign" (most agents no list names are people).
_ANY_SIGN: Any = re2.compile("|".join(f"(?:{pattern})" for _, pattern in (*GENERIC, *GENERIC_OFF_DEVICE))
                             + f"|{NAME_IN_ENGINE_PATTERN}", re2_options())


def generic_hit(agent: str) -> tuple[BotReason, str] | None:
    """The generic sign of automation in an agent no list names, and the text that shows it."""
    if not _ANY_SIGN.search(agent):
        return None
    for (reason, _), expression in zip(GENERIC, _GENERIC_EXPRESSIONS, strict=True):
        found = expression.search(agent)
        if found and not (_LINK.search(found.group(0)) and _DEVICE_PLATFORM.search(agent)):
            return reason, str(found.group(0))
    if not _DEVICE_PLATFORM.search(agent):
        for (reason, _), expression in zip(GENERIC_OFF_DEVICE, _OFF_DEVICE_EXPRESSIONS, strict=True):
            if found := expression.search(agent):
                return reason, str(found.group(0))
    if found := NAME_IN_ENGINE.search(agent):
        return BotReason.CRAWLER, str(found.group(0))
    return None


def mozilla_shell(agent: str) -> bool:
    """A Mozilla token and a product name, nothing a browser sends (``MOZILLA_SHELL``); the caller
    checks that the device parser finds no OS or device in it."""
    return bool(MOZILLA_SHELL.search(agent))


_OWN_SET: Any = re2.Set.SearchSet(re2_options())
for _, _pattern in OWN_LISTS:
    _OWN_SET.Add(_pattern)
_OWN_SET.Compile()
_OWN_EXPRESSIONS = tuple(re2.compile(pattern, re2_options()) for _, pattern in OWN_LISTS)


def own_list_hit(agent: str) -> tuple[BotReason, str] | None:
    """The first kind in ``OWN_LISTS`` (table order) whose list names the agent, and the text matched."""
    indices = _OWN_SET.Match(agent)
    if not indices:
        return None
    index = min(indices)
    found: Any = _OWN_EXPRESSIONS[index].search(agent)
    return OWN_LISTS[index][0], str(found.group(0))


def without_harmless(agent: str) -> str:
    return HARMLESS.sub(lambda m: m.group(1) or "", agent)


def has_browser_token(agent: str) -> bool:
    """A browser engine, a platform or a known app stack: what a bare product name lacks."""
    return bool(BROWSER_TOKEN.search(agent) or REAL_CLIENTS.search(agent))
