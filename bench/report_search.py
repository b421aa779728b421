"""The report's listing search rows: the HTTP scenarios (bench/search.py) against both baselines
with their targets, and which plan each class of search term gets (bench/search_plan.py)."""

from __future__ import annotations

from bench.report_format import both, latency, non_2xx, ratio_text, verdict

#: (label, least ratio to the baseline through the stack, largest p99 in ms or None)
SEARCH_TARGETS = {
    "uncached_random": ("a different random search each request (vocabulary words, uncached)", 0.3, 50),
    "broad": ("a broad one-word search ('dog', uncached)", 0.3, 50),
    "cached_with_edits": ("the same search repeated (search cache) with one provider edit per second", 0.5, None),
}
SITE_TARGET = 0.8


def _target_text(ratio: float, p99: float | None) -> str:
    return f"≥ {ratio}x stack" + (f", p99 ≤ {p99} ms" if p99 else "")


def search_lines(results: dict) -> list[str]:
    lines = []
    s = results.get("search") or {}
    for name, (label, ratio, p99) in SEARCH_TARGETS.items():
        if (m := s.get(name)) is None:
            continue
        ok = verdict(m["ratio_to_baseline"], ratio) + (f" / {verdict(m['p99_ms'], p99, False)}" if p99 else "")
        edits = f", {m['edits']} edits" if m.get("edits") is not None else ""
        lines.append(
            f"| API listing search, {label} vs baselines (stack / bare) | {both(m, ratio)}, {latency(m)}"
            f"{edits}{non_2xx(m)} | {_target_text(ratio, p99)} | {ok} |"
        )
    if h := s.get("site_under_broad_hammer"):
        clients = h["hammer_connections"]
        deployed = h.get("limits", {}).get("for_the_clients", {})
        limits = (
            f" (the public-read limits as deployed, for {clients} clients: {deployed['API_THROTTLE_PUBLIC_READ_IP']},"
            f" {deployed['LISTING_SEARCH_CONCURRENT_PER_CLIENT']} uncached searches at once)"
            if deployed
            else ""
        )
        lines.append(
            f"| the rest of the site (authenticated reads, many users) while {clients} clients flood"
            f" broad searches{limits}, in a flood's steady state: vs the site alone; vs baselines (stack / bare)"
            f" | {_hammer_text(h)} | ≥ {SITE_TARGET}x the site alone | {verdict(h['ratio_to_alone'], SITE_TARGET)} |"
        )
        if paced := h.get("paced"):
            lines.append(
                f"| the same, each client pausing {paced['pause_ms']} ms before each search (under its rate:"
                " the searches the limits let through; wrk pauses on a connection already open, and a sync"
                " worker waits on it until the request arrives: what a buffering proxy in front absorbs,"
                f" docs/operations/runbook.md#docker) | {_hammer_text(paced)} | — | — |"
            )
        if lifted := h.get("limits_lifted"):
            lines.append(
                f"| the same with the per-address limits lifted (every search of the flood answered: what"
                f" they cost the site) | {_hammer_text(lifted)} | — | — |"
            )
    p = results.get("search_plan")
    if p and "error" in p:
        lines.append(f"| listing search plans by term class | not measured: {p['error']} | — | — |")
    elif p:
        for name, c in p["classes"].items():
            state = f" in {c['state']}" if c.get("state") else ""
            lines.append(
                f"| listing search plan, {name}: '{c['query']}'{state} ({c['matches']:,} matches;"
                f" the words alone {c['text_matches']:,}) | {c['plan']} ({', '.join(c['indexes'])});"
                f" {c['execution_ms']:.2f} ms + {c['planning_ms']:.2f} ms planning |"
                + (
                    f" plan: {c['expected_plan']} | {'as expected' if c['as_expected'] else 'OTHER PLAN'} |"
                    if "expected_plan" in c
                    else " — | — |"
                )
            )
        if w := p.get("after_writes"):
            lines.append(
                f"| listing search (reference) inside PostgreSQL after {w['writes']:,} listing edits: the GIN index as"
                f" deployed (no fastupdate) vs PostgreSQL's default (fastupdate) |"
                f" {w['deployed']['search_ms']:.2f} vs {w['fastupdate']['search_ms']:.2f} ms; an edit"
                f" {w['deployed']['write_ms']:.2f} vs {w['fastupdate']['write_ms']:.2f} ms | — | — |"
            )
    return lines


def _hammer_text(h: dict) -> str:
    alone, hammer = h["alone"], h["hammer"]
    return (
        f"{ratio_text(h['ratio_to_alone'], SITE_TARGET)} ({h['rps']:.0f} vs {alone['rps']:.0f} req/s, p99"
        f" {h['p99_ms']:.1f} vs {alone['p99_ms']:.1f} ms); {both(h)} (alone {both(alone)}); the hammer"
        f" {hammer['rps']:.0f} req/s, p99 {hammer['p99_ms']:.1f} ms"
        + (f", {hammer['non_2xx']:,} of its answers refused (non-2xx)" if hammer.get("non_2xx") else "")
        + non_2xx(h)
    )
