"""Tier-2 scanner verdicts: probed paths and scanner user agents (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.errors import InvalidArgument
from analytics.traffic.scanner import (
    NOT_A_SCANNER,
    VELOCITY_LIMIT,
    ScannerReason,
    ScannerVerdict,
    is_scanner,
    normalise_path,
    peak_requests,
)

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")


@pytest.mark.parametrize(("path", "rule", "matched"), [
    ("/.env", "secrets", ".env"),
    ("/.env.production", "secrets", ".env.production"),
    ("/api/.env?cache=1", "secrets", ".env"),
    ("/%2Eenv", "secrets", ".env"),
    ("//.env", "secrets", ".env"),
    ("/.git/config", "secrets", ".git"),
    ("/app/.GIT/HEAD", "secrets", ".git"),
    ("/.aws/credentials", "secrets", ".aws"),
    ("/.ssh/id_rsa", "secrets", ".ssh"),
    ("/wp-config.php.bak", "secrets", "wp-config.php.bak"),
    ("/wp-admin/", "wordpress", "wp-admin"),
    ("/WP-ADMIN/install.php", "wordpress", "wp-admin"),
    ("/blog/wp-login.php", "wordpress", "wp-login.php"),
    ("/xmlrpc.php", "wordpress", "xmlrpc.php"),
    ("/wp-content/plugins/revslider/temp/update_extract/", "wordpress", "wp-content/plugins"),
    ("/phpmyadmin/index.php", "admin_tools", "phpmyadmin"),
    ("/cgi-bin/luci/;stok=/locale", "admin_tools", "cgi-bin"),
    ("/actuator/env", "admin_tools", "actuator"),
    ("/server-status", "admin_tools", "server-status"),
    ("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "exploits", "vendor/phpunit"),
    ("/static/../../etc/passwd", "exploits", "../"),
    ("/%2e%2e/%2e%2e/etc/passwd", "exploits", "../"),
    ("/HNAP1/", "exploits", "hnap1"),
    ("/backup.sql", "backups", "backup.sql"),
    ("/db/site.sql.gz", "backups", "site.sql.gz"),
    ("/index.php", "php", "index.php"),
    ("/index.php/about", "php", "index.php"),
    ("/shell.php7", "php", "shell.php7"),
    ("https://shop.example.com/wp-login.php?redirect_to=%2Fwp-admin", "wordpress", "wp-login.php"),
])
def test_probed_paths_are_scanners(path: str, rule: str, matched: str) -> None:
    assert is_scanner(path, CHROME) == ScannerVerdict(
        is_scanner=True, reason_codes=(ScannerReason.PATH,), path_rule=rule, matched_path=matched)


@pytest.mark.parametrize("path", [
    "/", "/pricing", "/blog/how-to-use-.env-files", "/.environment", "/docs/php-tutorial", "/php",
    "/.well-known/security.txt", "/wp-content/uploads/2024/hero.jpg", "/products/git-client",
    "/search?q=.env", "/search?q=wp-admin#/.git", "/gallery/image.bak-up", "/pmaster", "/sql-guide",
    "https://example.com/admin/settings",
])
def test_ordinary_paths_are_not_scanners(path: str) -> None:
    assert is_scanner(path, CHROME) == NOT_A_SCANNER


@pytest.mark.parametrize(("agent", "tool"), [
    ("sqlmap/1.8.6#stable (https://sqlmap.org)", "sqlmap"),
    ("Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)", "nikto"),
    ("Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)", "nmap"),
    ("masscan/1.3 (https://github.com/robertdavidgraham/masscan)", "masscan"),
    ("Mozilla/5.0 zgrab/0.x", "zgrab"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.124 "
     "Safari/537.36 Nuclei - Open-source project (github.com/projectdiscovery/nuclei)", "nuclei"),
    ("WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)", "wpscan"),
    ("DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)", "dirbuster"),
    ("gobuster/3.6", "gobuster"),
    ("Fuzz Faster U Fool v2.1.0-dev", "fuzz faster u fool"),
    ("Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)", "censysinspect"),
])
def test_scanner_agents_are_scanners(agent: str, tool: str) -> None:
    assert is_scanner("/", agent) == ScannerVerdict(
        is_scanner=True, reason_codes=(ScannerReason.AGENT,), matched_agent=tool)


def test_a_scanner_agent_probing_a_path_carries_both_reasons() -> None:
    assert is_scanner("/.git/HEAD", "gobuster/3.6") == ScannerVerdict(
        is_scanner=True, reason_codes=(ScannerReason.PATH, ScannerReason.AGENT), path_rule="secrets",
        matched_path=".git", matched_agent="gobuster")


@pytest.mark.parametrize("agent", [CHROME, None, "", "Mozilla/5.0 (compatible; Googlebot/2.1)",
                                   "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0 Snmapper"])
def test_ordinary_agents_are_not_scanners(agent: str | None) -> None:
    assert is_scanner("/pricing", agent) == NOT_A_SCANNER


def test_a_php_site_exempts_the_php_rule_but_keeps_the_others() -> None:
    assert is_scanner("/index.php?page=about", CHROME, exempt_rules={"php"}) == NOT_A_SCANNER
    assert is_scanner("/.env", CHROME, exempt_rules={"php"}).path_rule == "secrets"
    assert is_scanner("/wp-login.php", CHROME, exempt_rules={"wordpress"}).path_rule == "php"
    with pytest.raises(InvalidArgument, match="unknown scanner rule 'wp'; rules are secrets, exploits, "
                                              "wordpress, admin_tools, backups, php"):
        is_scanner("/", CHROME, exempt_rules={"wp"})


@pytest.mark.parametrize(("raw", "path"), [
    ("/Blog//Post?id=1#top", "/blog/post"),
    ("https://example.com/A%20B/?q=1", "/a b/"),
    ("//evil.example/.env", "/evil.example/.env"),
    ("", ""),
])
def test_paths_are_normalised_before_matching(raw: str, path: str) -> None:
    assert normalise_path(raw) == path


START = datetime(2025, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(("times", "peak"), [
    ([], 0),
    ([START], 1),
    # 61 requests one second apart span 60 s: no 60-second window holds more than 60 of them.
    ([START + timedelta(seconds=i) for i in range(61)], 60),
    # The same 61 a millisecond faster each: the 61st falls inside the first one's minute.
    ([START + timedelta(milliseconds=999 * i) for i in range(61)], 61),
    # Bursts minutes apart never add up.
    ([START + timedelta(minutes=m, milliseconds=i) for m in range(3) for i in range(40)], 40),
])
def test_peak_requests_counts_the_busiest_minute(times: list[datetime], peak: int) -> None:
    assert peak_requests(times) == peak
    assert (peak > VELOCITY_LIMIT) == (peak == 61)
