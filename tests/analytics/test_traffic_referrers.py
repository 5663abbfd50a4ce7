"""Traffic source classes and UTM tags on real-looking referrers and landing URLs."""

from __future__ import annotations

import pytest

from analytics.traffic.referrers import TrafficSource, Utm, classify_source, utm

OWN_HOSTS = ("shop.example.com", "example.com")
LANDING = "https://shop.example.com/spring-collection"


@pytest.mark.parametrize(("referrer", "source"), [
    (None, "direct"),
    ("", "direct"),
    ("https://shop.example.com/cart", "direct"),
    ("https://www.example.com/blog/launch", "direct"),
    ("http://[::1", "direct"),
    ("https://www.google.com/", "organic_search"),
    ("https://www.google.co.uk/", "organic_search"),
    ("https://www.google.com.au/search?q=linen+shirts", "organic_search"),
    ("android-app://com.google.android.googlequicksearchbox/", "organic_search"),
    ("google.de", "organic_search"),
    ("https://www.bing.com/search?q=linen+shirts&form=QBLH", "organic_search"),
    ("https://duckduckgo.com/", "organic_search"),
    ("https://search.yahoo.com/search?p=linen", "organic_search"),
    ("https://yandex.ru/search/?text=linen", "organic_search"),
    ("https://www.ecosia.org/", "organic_search"),
    ("https://search.brave.com/search?q=linen", "organic_search"),
    ("https://www.baidu.com/link?url=abc", "organic_search"),
    ("https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example.com%2F", "social"),
    ("https://m.facebook.com/", "social"),
    ("https://t.co/AbC123xyz", "social"),
    ("https://x.com/", "social"),
    ("https://www.linkedin.com/feed/", "social"),
    ("https://out.reddit.com/t3_1abcde?url=https%3A%2F%2Fshop.example.com", "social"),
    ("https://news.ycombinator.com/item?id=41234567", "social"),
    ("https://www.youtube.com/", "social"),
    ("https://l.instagram.com/?u=https%3A%2F%2Fshop.example.com", "social"),
    ("https://www.pinterest.co.uk/pin/123456/", "social"),
    ("https://bsky.app/profile/someone.bsky.social", "social"),
    ("https://mail.google.com/", "email"),
    ("https://outlook.live.com/", "email"),
    ("android-app://com.google.android.gm/", "email"),
    ("https://gemini.google.com/app", "referral"),
    ("https://chatgpt.com/", "referral"),
    ("https://github.com/acme/storefront", "referral"),
    ("https://blog.example.org/2024/summer-picks", "referral"),
    ("https://staging.example.com/", "referral"),
    ("https://www.xbox.com/", "referral"),
    ("https://notgoogle.com/", "referral"),
    ("https://google.evil-site.com/", "referral"),
])
def test_referrer_classes(referrer: str | None, source: str) -> None:
    assert classify_source(referrer, LANDING, OWN_HOSTS) == TrafficSource(source)


@pytest.mark.parametrize(("referrer", "query", "source"), [
    (None, "?utm_source=google&utm_medium=cpc&utm_campaign=spring_sale", "paid"),
    (None, "?utm_source=facebook&utm_medium=paid_social", "paid"),
    (None, "?utm_source=news-site&utm_medium=Display", "paid"),
    ("https://www.google.com/", "?gclid=EAIaIQobChMI", "paid"),
    ("https://www.bing.com/", "?msclkid=9f1c2a", "paid"),
    ("https://github.com/", "?gclid=", "referral"),
    # fbclid is on organic Facebook clicks too: the referrer decides, not the click id.
    ("https://l.facebook.com/", "?fbclid=IwAR2xyz", "social"),
    (None, "?utm_source=newsletter&utm_medium=email&utm_campaign=june", "email"),
    (None, "?utm_source=weekly-newsletter", "email"),
    ("https://www.google.com/", "?utm_medium=e-mail", "email"),
    (None, "?utm_source=twitter&utm_medium=social", "social"),
    (None, "?utm_source=bing&utm_medium=organic", "organic_search"),
    (None, "?utm_source=google", "organic_search"),
    (None, "?utm_source=facebook.com", "social"),
    (None, "?utm_source=x", "social"),
    (None, "?utm_source=partner-portal", "direct"),
    ("https://partner.example.net/deals", "?utm_source=partner-portal", "referral"),
])
def test_utm_tags_and_click_ids_come_before_the_referrer(referrer: str | None, query: str, source: str) -> None:
    assert classify_source(referrer, LANDING + query, OWN_HOSTS) == TrafficSource(source)


def test_the_landing_host_counts_as_own_without_a_configured_list() -> None:
    assert classify_source("https://shop.example.com/a", "https://shop.example.com/b", ()) is TrafficSource.DIRECT
    assert classify_source("https://www.shop.example.com/a", "https://shop.example.com:8443/b", ()) \
        is TrafficSource.DIRECT


@pytest.mark.parametrize(("landing", "tags"), [
    ("https://shop.example.com/?utm_source=Google&utm_medium=cpc&utm_campaign=spring%20sale"
     "&utm_term=linen+shirts&utm_content=hero-banner",
     Utm(source="Google", medium="cpc", campaign="spring sale", term="linen shirts", content="hero-banner")),
    ("https://shop.example.com/?UTM_SOURCE=newsletter&Utm_Medium=email",
     Utm(source="newsletter", medium="email")),
    ("https://shop.example.com/?utm_source=&utm_medium=%20&utm_campaign=june", Utm(campaign="june")),
    ("https://shop.example.com/?utm_source=first&utm_source=second", Utm(source="first")),
    ("https://shop.example.com/#utm_source=fragment", Utm()),
    ("https://shop.example.com/", Utm()),
    (None, Utm()),
])
def test_utm_tags(landing: str | None, tags: Utm) -> None:
    assert utm(landing) == tags
