"""The report's design-scale figures: marketplace transactions partitioned against unpartitioned
(bench/sql_transactions.py), public reads with and without a read replica (bench/replica.py), and
the listing search's growth from 10 K to 1 M listings (bench/search_growth.py). They inform
decisions (docs/decisions/0009-marketplace-transactions-not-partitioned.md) rather than check a
target of the platform as deployed, so their rows say what they show and carry no verdict."""

from __future__ import annotations

from bench.report_format import ratio_text
from bench.sql_transactions import LAYOUTS, TARGET

STATEMENT_LABELS = {
    "provider_first": "provider's sales, newest page",
    "provider_deep": "provider's sales, a cursor page",
    "buyer_first": "buyer's purchases, newest page",
    "buyer_deep": "buyer's purchases, a cursor page",
}
LOAD_LABELS = {
    "uncached_random": "a different random search each request (uncached)",
    "broad": "the broad one-word search ('dog', uncached)",
    "listing_detail": "listing detail pages (2,000 listings, a random one each request)",
}


def design_lines(results: dict) -> list[str]:
    return (
        transaction_lines(results.get("transactions_sql"))
        + replica_lines(results.get("replica"))
        + growth_lines(results.get("search_growth"))
    )


def transaction_lines(t: dict | None) -> list[str]:
    if not t:
        return []
    partitions = ", ".join(f"{layout} {t['partitions'][layout]}" for layout in LAYOUTS)
    lines = [
        "",
        "### Marketplace transactions: partitioned copies against the table as deployed (SQL, unprepared)",
        "",
        f"The list statements as selectors.transaction_page sends them, {t['rounds']} interleaved rounds, medians;"
        f" partitions holding rows: {partitions}. Ratio: unpartitioned time / partitioned time (≥ {TARGET}x:"
        " the partitioned side keeps the floor the message pages have).",
        "",
        "| statement (history rows; cursor depth) | unpartitioned | "
        + " | ".join(f"{layout} (partitions read)" for layout in LAYOUTS)
        + " |",
        "| --- | --- | " + " | ".join("---" for _ in LAYOUTS) + " |",
    ]
    for name, s in t["statements"].items():
        flat = s["unpartitioned"]
        depth = f"; {s['depth_rows']:,} deep" if name.endswith("_deep") else ""
        cells = [
            f"{ratio_text(s[layout]['ratio'], TARGET)}"
            f" {'keeps' if s[layout]['ratio'] >= TARGET else 'does not keep'} ≥ {TARGET}x:"
            f" {s[layout]['ms']:.2f} ms, planning {s[layout]['planning_ms']:.2f} + execution"
            f" {s[layout]['execution_ms']:.2f} ms ({s[layout]['partitions_read']})"
            for layout in LAYOUTS
        ]
        lines.append(
            f"| {STATEMENT_LABELS.get(name, name)} ({s['history_rows']:,}{depth}) | {flat['ms']:.2f} ms, planning"
            f" {flat['planning_ms']:.2f} + execution {flat['execution_ms']:.2f} ms | " + " | ".join(cells) + " |"
        )
    return lines


def replica_lines(r: dict | None) -> list[str]:
    if not r:
        return []
    lines = ["", "### Public reads with a read replica (a primary and its hot standby on this host)", ""]
    if "error" in r:
        return lines + [f"Not measured: {r['error']}"]
    lines += [
        f"{r['rounds']} interleaved rounds of {r['duration_seconds']} s, the same primary on both sides;"
        " with: MARKETPLACE_REPLICA_DATABASE_URL names its standby (bench/replica.py).",
        "",
        "| load | with / without the replica | with: req/s, p50/p99 | without: req/s, p50/p99 |"
        " transactions the standby served |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, load in r["loads"].items():
        ratio = load["with_vs_without"]
        cells = [
            f"{load[side]['rps']:.0f}, {load[side]['p50_ms']:.1f}/{load[side]['p99_ms']:.1f} ms"
            + (f", {load[side]['non_2xx']} non-2xx" if load[side]["non_2xx"] else "")
            for side in ("with", "without")
        ]
        lines.append(
            f"| {LOAD_LABELS.get(name, name)} | {ratio_text(ratio) if ratio else '—'} | {cells[0]} | {cells[1]} |"
            f" {load['standby_transactions']:,} |"
        )
    return lines


def growth_lines(g: dict | None) -> list[str]:
    if not g:
        return []
    lines = ["", "### Listing search growth (EXPLAIN ANALYZE inside PostgreSQL, as the application role)", ""]
    if "error" in g:
        return lines + [f"Not measured: {g['error']}"]
    sizes = [str(size) for size in g["sizes"]]
    copies = ", ".join(f"{size:,}" for size in g["derived_by_copy"]) or "none"
    unreached = ", ".join(f"{size:,}" for size in g["unreached"]) or "none"
    lines += [
        f"The data set's {g['listings']:,} listings, and scratch copies of a seeded random sample of them: {copies}"
        f" (bench/search_growth.py). Not reachable at this scale: {unreached}. Each cell: execution + planning"
        " ms, the plan, the matches.",
        "",
        "| term class | " + " | ".join(f"{int(size):,} listings" for size in sizes) + " |",
        "| --- | " + " | ".join("---" for _ in sizes) + " |",
    ]
    for name in g["points"][sizes[0]]:
        cells = []
        for size in sizes:
            c = g["points"][size][name]
            cells.append(f"{c['execution_ms']:.2f} + {c['planning_ms']:.2f} ms, {c['plan']}, {c['matches']:,} matches")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines
