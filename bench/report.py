"""The report: bench/reports/<name>.md and .json, every figure beside its target, each HTTP rate
as a ratio against both baselines (bare: no middleware; through the stack: the platform's request
cycle), with the missed targets explained (bench/report_missed.py)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.environment import BASE_DIR
from bench.faults import fault_rows
from bench.load import DURATION, ROUNDS
from bench.report_design import design_lines
from bench.report_format import both, latency, non_2xx, ratio_text, verdict
from bench.report_missed import missed_target_lines
from bench.report_search import search_lines
from bench.soak_check import soak_lines

REPORTS = BASE_DIR / "bench" / "reports"
#: How often beat runs the integrity check (config/beat_schedule.py, "crossdb-check": every 15 minutes).
CROSSDB_CHECK_PERIOD_SECONDS = 15 * 60


def report_name(scale: str) -> str:
    """bench/reports/<name>.md and .json: `latest` for the small data set (the one docs/benchmarks.md
    links), the scale's own name for the others."""
    return "latest" if scale == "small" else scale


def write_report(results: dict, directory: Path = REPORTS) -> str:
    """Writes <name>.json and <name>.md into `directory` and returns the Markdown. A scenario that
    was not run (a partial run) is left out, and the report says which ran."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{report_name(results['scale'])}.json").write_text(json.dumps(results, indent=2))
    sections = [name for name in SECTIONS if name in results]
    lines = [
        f"# Benchmark report ({results['scale']} scale, {results['finished_at']})",
        "",
        f"{results.get('rounds', ROUNDS)} rounds of {results.get('duration_seconds', DURATION)} s per HTTP figure (each round: the bare baseline, the baseline "
        "through the stack, the measured run, each after a drain and a discarded warm-up); medians. gunicorn "
        f"with {results.get('gunicorn_workers', '?')}. Scenarios run: {', '.join(sections)}.",
        "",
        *dataset_lines(results.get("dataset") or {}),
        *server_lines(results.get("server") or {}),
        "| scenario | achieved | target | |",
        "| --- | --- | --- | --- |",
    ]
    rows = [
        *calibration_rows(results.get("calibration")),
        *webhook_rows(results.get("webhooks")),
        *sql_rows(results),
        *crossdb_api_rows(results.get("crossdb_api")),
        *fault_rows(results.get("faults")),
    ]
    lines += [f"| {a} | {b} | {t} | {v} |" for a, b, t, v in rows]
    lines += api_lines(results.get("api"))
    lines += depth_lines(results)
    lines += search_lines(results)
    lines += design_lines(results)
    lines += gunicorn_lines(results.get("gunicorn"))
    lines += request_cost_lines(results)
    lines += soak_lines(results.get("soak"))
    lines += missed_target_lines(results)
    text = "\n".join(lines) + "\n"
    (directory / f"{report_name(results['scale'])}.md").write_text(text)
    return text


SECTIONS = (
    "calibration",
    "webhooks",
    "rls",
    "messages_sql",
    "transactions_sql",
    "crossdb_resolution",
    "crossdb_api",
    "search_plan",
    "search_growth",
    "search",
    "replica",
    "api",
    "api_depth",
    "admin",
    "request_costs",
    "crossdb_check",
    "faults",
    "soak",
    "gunicorn",
)


def calibration_rows(c: dict | None) -> list[tuple[str, str, str, str]]:
    if not c:
        return []
    rows = [
        ("calibration: pgbench -S (tps)", f"{c['pgbench_select_tps']:.0f}", "—", "—"),
        (
            "calibration: baseline view through the stack (every middleware; req/s, p99)",
            f"{c['baseline_rps']:.0f}, {c['baseline_p99_ms']:.1f} ms",
            "—",
            f"{c['baseline_share_of_pgbench']:.2f} of pgbench",
        ),
    ]
    if "bare_rps" in c:
        rows.append(
            (
                "calibration: bare baseline view (no middleware; req/s, p99), and the stack's rate against it",
                f"{c['bare_rps']:.0f}, {c['bare_p99_ms']:.1f} ms; stack {c['stack_vs_bare']:.2f}x bare",
                "—",
                "—",
            )
        )
    return rows


def webhook_rows(w: dict | None) -> list[tuple[str, str, str, str]]:
    if not w:
        return []
    return [
        (
            "webhook ingestion vs baselines (stack / bare)",
            f"{both(w, 0.5)}, p99 {w['p99_ms']:.1f} ms",
            "≥ 0.5x, p99 ≤ 25 ms",
            verdict(w["ratio_to_baseline"], 0.5) + (" / " + verdict(w["p99_ms"], 25, False)),
        ),
        *(
            [
                (
                    "webhook ingestion with synchronous_commit off (diagnostic only: not how the inbox runs)",
                    f"{both(w['without_durable_commit'])}, p99 {w['without_durable_commit']['p99_ms']:.1f} ms"
                    + (
                        f", {w['without_durable_commit']['non_2xx']} non-2xx"
                        if w["without_durable_commit"].get("non_2xx")
                        else ""
                    ),
                    "—",
                    "—",
                )
            ]
            if "without_durable_commit" in w
            else []
        ),
        (
            "webhook duplicates stored twice",
            str(w["duplicate_inbox_rows"]),
            "0",
            verdict(-w["duplicate_inbox_rows"], 0),
        ),
        (
            "webhook processing by a Celery worker (2 processes): events/s, left unprocessed",
            f"{w['processing_per_second'] or 0:.0f}/s, {w['left_unprocessed']} of {w['processed_events'] + w['left_unprocessed']}",
            "—",
            "—",
        ),
        (
            "webhook duplicate side effects (an event's handling committed twice)",
            f"{w['duplicate_effects']} of {w['events_handled']} handled",
            "0",
            verdict(-w["duplicate_effects"], 0),
        ),
    ]


def sql_rows(results: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    if r := results.get("rls"):
        rows += [
            (
                f"RLS on vs off (same tenant query; median of {r['rounds']} rounds, range)",
                f"{ratio_text(r['ratio_on_to_off'], 0.9)} ({r['ratio_min']:.2f}–{r['ratio_max']:.2f})",
                "≥ 0.9x",
                verdict(r["ratio_on_to_off"], 0.9),
            ),
        ]
    if m := results.get("messages_sql"):
        rows += [
            (
                "messages: cursor vs OFFSET 100,000 (SQL, same columns)",
                f"{m['cursor_vs_offset']:.0f}x",
                "≥ 100x",
                verdict(m["cursor_vs_offset"], 100),
            ),
            (
                "messages: Sort node in the cursor plan",
                str(m["cursor_plan_sorts"]),
                "False",
                verdict(0 if m["cursor_plan_sorts"] else 1, 1),
            ),
            (
                "messages: partitioned vs unpartitioned thread query (SQL)",
                f"{m['partitioned_vs_unpartitioned']:.2f}x",
                "≥ 0.8x",
                verdict(m["partitioned_vs_unpartitioned"], 0.8),
            ),
        ]
    if x := results.get("crossdb_resolution"):
        rows += [
            (
                "cross-DB resolution, page 100: batched vs naive",
                f"{x['100']['speedup']:.1f}x",
                "≥ 10x",
                verdict(x["100"]["speedup"], 10),
            ),
            (
                "cross-DB resolution: tenant-DB queries at 20 / 100 rows"
                + (
                    " (the invoices read + the audited system-read context's)"
                    if "tenant_db_queries_resolve" in x["100"]
                    else ""
                ),
                f"{x['20']['tenant_db_queries_batched']} / {x['100']['tenant_db_queries_batched']}"
                + (
                    f" ({x['100']['tenant_db_queries_resolve']} + {x['100']['tenant_db_queries_batched'] - x['100']['tenant_db_queries_resolve']})"
                    if "tenant_db_queries_resolve" in x["100"]
                    else ""
                )
                + f" (naive {x['100']['tenant_db_queries_naive']})",
                "constant",
                verdict(1 if x["20"]["tenant_db_queries_batched"] == x["100"]["tenant_db_queries_batched"] else 0, 1),
            ),
        ]
    return rows


API_ROWS = {
    "transactions_first_page": ("transactions first page", "≥ 0.5x stack", 0.5),
    "messages_newest_page": ("messages newest page", "—", None),
    "contacts_with_marketplace_names": ("contacts with marketplace names", "—", None),
}


def api_lines(api: dict | None) -> list[str]:
    if not api:
        return []
    lines = []
    for name, (label, target, at_least) in API_ROWS.items():
        if (a := api.get(name)) is None:
            continue
        users = f" ({a['users']} users, a random one each request)" if "users" in a else ""
        ok = verdict(a["ratio_to_baseline"], at_least) if at_least else "—"
        lines.append(
            f"| API {label}{users} vs baselines (stack / bare) | {both(a, at_least)}, {latency(a)}"
            f"{non_2xx(a)} | {target} | {ok} |"
        )
    return lines


def depth_lines(results: dict) -> list[str]:
    lines = []
    if d := results.get("api_depth"):
        lines += [
            f"| API transactions: page {d['transactions_depth_rows']:,} rows deep vs first page (cursor) | "
            f"{ratio_text(d['transactions_deep_vs_first'], 0.9)} | ≥ 0.9x | {verdict(d['transactions_deep_vs_first'], 0.9)} |",
            f"| API transactions: Sort node in the deep-page plan | {d['transactions_deep_plan_sorts']} | False | "
            f"{verdict(0 if d['transactions_deep_plan_sorts'] else 1, 1)} |",
            f"| API messages 100,000 deep: cursor vs OFFSET (HTTP) | {d['messages_cursor_vs_offset']:.1f}x "
            f"(p99 {d['messages_cursor_p99_ms']:.1f} vs {d['messages_offset_p99_ms']:.1f} ms) | ≥ 20x | "
            f"{verdict(d['messages_cursor_vs_offset'], 20)} |",
        ]
    a = results.get("admin")
    if a is None:
        pass
    elif "error" in a:
        lines.append(f"| admin change lists: queries per page | not measured: {a['error']} | constant | — |")
    else:
        for name in ("invoices", "transactions"):
            small, large = a[f"{name}_20"], a[f"{name}_100"]
            same = (small["tenant_db"], small["marketplace_db"]) == (large["tenant_db"], large["marketplace_db"])
            lines.append(
                f"| admin {name} change list: queries (tenant DB + marketplace DB) at {small['rows']} / "
                f"{large['rows']} rows | {small['tenant_db']} + {small['marketplace_db']} / "
                f"{large['tenant_db']} + {large['marketplace_db']} | constant | {'met' if same else 'MISSED'} |"
            )
    j = results.get("crossdb_check")
    if j is not None:
        lines.append(
            f"| scheduled crossdb_check (beat, every {CROSSDB_CHECK_PERIOD_SECONDS // 60} min): wall time, share of its period |"
            + (
                f" not measured: {j['error']} | — | — |"
                if "error" in j
                else f" {j['seconds']:.1f} s ({j['share_of_period']:.1%}), {j['source_rows']:,} source rows and"
                f" {j['registry_rows']:,} registry rows checked"
                + (f", {j['problems']} problems found" if j.get("problems") else "")
                + " | — | — |"
            )
        )
    return lines


def gunicorn_lines(gunicorn: dict | None) -> list[str]:
    if not gunicorn:
        return []
    lines = [
        "",
        "Gunicorn worker settings on this host (req/s and p99, 2 interleaved rounds each; the "
        "ratio is to that setting's own baseline):",
        "",
        "| workers | transactions | webhook ingestion | baseline |",
        "| --- | --- | --- | --- |",
    ]
    if True:
        for name, g in gunicorn.items():
            figures = [
                f"{g['transactions_rps']:.0f}, {g['transactions_p99_ms']:.1f} ms"
                f" ({g['transactions_rps'] / g['baseline_rps']:.2f}x)"
            ]
            if "webhook_rps" in g:  # reports from before the webhook was compared have none
                figures.append(
                    f"{g['webhook_rps']:.0f}, {g['webhook_p99_ms']:.1f} ms"
                    f" ({g['webhook_rps'] / g['baseline_rps']:.2f}x)"
                    + (f", {g['webhook_non_2xx']} non-2xx" if g.get("webhook_non_2xx") else "")
                )
            else:
                figures.append("—")
            lines.append(f"| {name} | {' | '.join(figures)} | {g['baseline_rps']:.0f}, {g['baseline_p99_ms']:.1f} ms |")
    return lines


def crossdb_api_rows(x: dict | None) -> list[tuple[str, str, str, str]]:
    """The API's cross-database list (contacts with their marketplace person): queries on each
    database at 20 and 100 rows, and the whole request over HTTP against the per-row variant."""
    if not x:
        return []
    if "error" in x:
        return [("API cross-DB list (contacts with marketplace names)", f"not measured: {x['error']}", "—", "—")]
    q = x["queries"]
    b20, b100, n20, n100 = q["batched_20"], q["batched_100"], q["per_row_20"], q["per_row_100"]
    constant = (b20["tenant_db"], b20["marketplace_db"]) == (b100["tenant_db"], b100["marketplace_db"])
    rows = [
        (
            f"API cross-DB list, contacts with their marketplace names: queries (tenant DB + marketplace DB) at "
            f"{b20['rows']} / {b100['rows']} rows ({b20['linked']} / {b100['linked']} linked)",
            f"{b20['tenant_db']} + {b20['marketplace_db']} / {b100['tenant_db']} + {b100['marketplace_db']} "
            f"(per row: {n20['tenant_db']} + {n20['marketplace_db']} / {n100['tenant_db']} + {n100['marketplace_db']})",
            "constant, one per target table on the other DB",
            verdict(1 if constant and b100["marketplace_db"] <= 1 else 0, 1),
        )
    ]
    for size in ("20", "100"):
        h = x[size]
        rows.append(
            (
                f"API cross-DB list, page {size} over HTTP: batched vs per row (whole request)",
                f"{h['speedup']:.1f}x ({h['batched_rps']:.0f} vs {h['per_row_rps']:.0f} req/s, p99 "
                f"{h['batched_p99_ms']:.0f} vs {h['per_row_p99_ms']:.0f} ms)"
                + (f", {h['non_2xx']} non-2xx" if h["non_2xx"] else ""),
                "— (≥ 10x is the resolution's, above)",
                "—",
            )
        )
    return rows


def dataset_lines(dataset: dict) -> list[str]:
    if not dataset:
        return []
    parts = []
    for database, counts in dataset.items():
        rows = ", ".join(f"{table} {n:,}" for table, n in counts.items() if table != "bytes")
        parts.append(f"`{database}` {counts['bytes'] / 2**20:,.0f} MiB ({rows})")
    return ["Data: " + "; ".join(parts) + ".", ""]


def server_lines(server: dict) -> list[str]:
    if not server:
        return []
    settings = ", ".join(f"{name} {value}" for name, value in server.items() if name != "server_version")
    return [f"PostgreSQL {server.get('server_version', '?')} as found (the bench does not tune it): {settings}.", ""]


def request_cost_lines(results: dict) -> list[str]:
    costs = results.get("request_costs") or {}
    if "error" in costs or "baseline" not in costs:
        return ["", f"Request costs: not measured ({costs.get('error', 'skipped')})."]
    base = costs["baseline"]["cpu_ms"]
    rounds = costs["baseline"].get("rounds")
    how = (
        f"{rounds} rounds of every request in turn, {costs['baseline']['requests_per_round']} requests each, each column a median; the CPU ratio "
        "is the median of each round's ratio to that round's baseline, so it need not equal the quotient of the CPU "
        "column's medians"
        if rounds
        else "300 requests each"
    )
    lines = [
        "",
        f"Where a request's time goes (in process, Django test client, {how}): CPU of the "
        "Python process, time waiting on PostgreSQL, queries. On 2 cores the web workers' CPU is the "
        "ceiling, so an endpoint that needs k times the baseline's CPU runs at about 1/k of its rate.",
        "",
        "| request | CPU ms | waiting on PostgreSQL ms | queries | CPU vs baseline (per round) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, c in costs.items():
        lines.append(
            f"| {name.replace('_', ' ')} | {c['cpu_ms']:.2f} | {c['db_wait_ms']:.2f} | {c['queries']:.0f} | "
            f"{c.get('cpu_vs_baseline', c['cpu_ms'] / base):.1f}x |"
        )
    return lines
