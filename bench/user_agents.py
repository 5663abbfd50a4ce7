"""User-agent parsing cost: µs per parse cold and cached, on 10,000 distinct real-looking agents.

Run from the repository root: ``python bench/user_agents.py [--agents 10000] [--lookups 200000]``.
In process, no stack. Prints the figures and the conditions and asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ua_parser

from analytics.traffic.agents import AGENT_CACHE_SIZE, clear_agent_caches, describe_agent, is_bot

ANDROID_DEVICES = ("SM-S921B", "SM-A546B", "Pixel 8", "Pixel 7a", "M2101K6G", "CPH2581",
                   "moto g power (2022)", "SM-X710", "K", "2201116SG", "RMX3686", "V2230")
# (share of traffic, template): roughly 55% desktop, 35% mobile, 5% tablet, 5% bots.
TEMPLATES = (
    (0.30, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) {blink} Chrome/{chrome} Safari/537.36{edge}"),
    (0.12, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_{mac}) {webkit} Version/{safari} Safari/605.1.15"),
    (0.13, "Mozilla/5.0 ({desktop}; rv:{firefox}.0) Gecko/20100101 Firefox/{firefox}.0"),
    (0.17, "Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) {webkit} Version/{safari} Mobile/15E148 "
           "Safari/604.1"),
    (0.18, "Mozilla/5.0 (Linux; Android {android}; {device}) {blink} Chrome/{chrome} Mobile Safari/537.36"),
    (0.05, "Mozilla/5.0 (iPad; CPU OS {ios} like Mac OS X) {webkit} Version/{safari} Mobile/15E148 "
           "Safari/604.1"),
    (0.01, "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) {blink} Chrome/{chrome} Mobile "
           "Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    (0.01, "Mozilla/5.0 {blink}; compatible; GPTBot/1.{minor}; +https://openai.com/gptbot"),
    (0.01, "Mozilla/5.0 (compatible; AhrefsBot/7.{minor}; +http://ahrefs.com/robot/)"),
    (0.01, "python-requests/2.{minor}.{android}"),
    (0.01, "curl/8.{minor}.{android}"),
)
DESKTOP_SYSTEMS = ("Windows NT 10.0; Win64; x64", "X11; Linux x86_64", "X11; Ubuntu; Linux x86_64",
                   "Macintosh; Intel Mac OS X 10.15")


def real_looking_agents(count: int, seed: int = 7) -> list[str]:
    """Distinct agents with the templates' shares and realistic version spreads."""
    rng = random.Random(seed)
    shares = [share for share, _ in TEMPLATES]
    agents: set[str] = set()
    while len(agents) < count:
        chrome = f"{rng.randint(100, 131)}.0.{rng.randint(5000, 6800)}.{rng.randint(0, 250)}"
        template = rng.choices([template for _, template in TEMPLATES], weights=shares)[0]
        agents.add(template.format(
            chrome=chrome, edge=f" Edg/{chrome}" if rng.random() < 0.3 else "", minor=rng.randint(0, 40),
            safari=f"{rng.randint(15, 18)}.{rng.randint(0, 6)}", firefox=rng.randint(110, 133),
            desktop=rng.choice(DESKTOP_SYSTEMS), blink="AppleWebKit/537.36 (KHTML, like Gecko)",
            webkit="AppleWebKit/605.1.15 (KHTML, like Gecko)", mac=rng.randint(1, 7),
            ios=f"{rng.randint(15, 18)}_{rng.randint(0, 7)}", android=rng.randint(10, 15),
            device=rng.choice(ANDROID_DEVICES)))
    return sorted(agents)


def microseconds_per_call(function: Callable[[str], object], agents: list[str]) -> float:
    started = time.perf_counter()
    for agent in agents:
        function(agent)
    return (time.perf_counter() - started) / len(agents) * 1e6


def classify(agent: str) -> object:
    return describe_agent(agent), is_bot(agent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    args = parser.parse_args()

    agents = real_looking_agents(args.agents)
    resolver = type(ua_parser.BestAvailableResolver(ua_parser.load_lazy_builtins())).__module__
    print(f"Python {platform.python_version()} on {platform.machine()}, ua-parser {ua_parser.VERSION}, "
          f"resolver {resolver}, cache {AGENT_CACHE_SIZE} agents, {len(agents)} distinct agents")

    describe_agent(agents[0])  # load the rules once, outside the timings
    is_bot(agents[0])
    for name, function in (("describe_agent", describe_agent), ("is_bot", is_bot),
                           ("both (what ingest calls)", classify)):
        clear_agent_caches()
        cold = microseconds_per_call(function, agents)
        warm_set = agents[:AGENT_CACHE_SIZE // 2]
        microseconds_per_call(function, warm_set)
        cached = microseconds_per_call(function, warm_set * 5)
        print(f"{name:26} cold {cold:8.1f} µs/parse   cached {cached:6.2f} µs/parse")

    # Real traffic repeats agents: a Zipf-like draw over the pool, starting from an empty cache.
    rng = random.Random(11)
    weights = [1 / rank for rank in range(1, len(agents) + 1)]
    stream = rng.choices(agents, weights=weights, k=args.lookups)
    clear_agent_caches()
    mixed = microseconds_per_call(classify, stream)
    print(f"{'both, Zipf stream':26} {args.lookups} look-ups, {mixed:.2f} µs each on average")

    basic = ua_parser.Parser(ua_parser.BasicResolver(ua_parser.load_builtins()))
    basic.parse(agents[0])
    pure_python = microseconds_per_call(basic.parse, agents[:2000])
    print(f"{'pure-Python resolver':26} cold {pure_python:8.1f} µs/parse (for comparison, no cache)")


if __name__ == "__main__":
    main()
