"""The report's last section: for every missed target, why (from the run's own figures) and what
it would take."""

from __future__ import annotations

from bench.load import CONNECTIONS
from bench.report_format import ratio_text

#: What each search figure spends beyond the request's fixed cost, measured outside the HTTP run.
SEARCH_REASONS = {
    "uncached_random": (
        " Most of a random search's time is PostgreSQL's: 300 searches drawn as this scenario draws them"
        " cost 18.5 ms on average inside it, p95 40 ms (each statement explained unprepared at 1 M"
        " listings, docs/decisions/0006-bounded-listing-search.md), and the cheaper of the two paths for"
        " each would cost 15.7 ms: the database's share of the 2 cores bounds the rate before the request"
        " cycle does. What it would take there: knowing which words occur together (the walk-or-index"
        " choice assumes them independent), the read replica on its own host (the replica rows), a search"
        " engine beside PostgreSQL."
    ),
    "broad": (
        " Inside PostgreSQL the broad word is a short walk of the score index (the search plan rows: about"
        " 1 ms): what is left is the request's fixed cost."
    ),
}


def missed_target_lines(results: dict) -> list[str]:
    """For every missed target: why, from this run's own figures, and what it would take."""
    costs = results.get("request_costs") or {}
    base = (costs.get("baseline") or {}).get("cpu_ms")
    out = []

    def cpu_bound(name: str) -> str:
        c = costs.get(name)
        if not c or not base:
            return ""
        what = " The reference search, uncached, measured in process." if name == "listing_search_uncached" else ""
        return what + (
            f" It needs {c['cpu_ms']:.1f} ms of Python CPU per request against the baseline's {base:.1f} ms "
            f"(about {1 / c.get('cpu_vs_baseline', c['cpu_ms'] / base):.2f}x, by the CPU ratio, if the web workers' CPU were all that counted; PostgreSQL and wrk share "
            f"the 2 cores), and waits {c['db_wait_ms']:.1f} ms on "
            f"{c['queries']:.0f} queries."
        )

    def latency_floor(measured: dict, p99_target_ms: float) -> str:
        """Little's law for wrk's closed loop: with every connection always waiting on an answer, the
        mean latency is connections / rate, whatever the server does; p99 sits above the mean."""
        if measured.get("p99_ms", 0) <= p99_target_ms or not measured.get("ratio_to_baseline"):
            return ""
        rps = measured["rps"]
        base_rps = rps / measured["ratio_to_baseline"]  # the baseline interleaved with it
        need = CONNECTIONS / p99_target_ms * 1000
        base_p99 = (results.get("calibration") or {}).get("baseline_p99_ms")
        own_p99 = f", whose own p99 in the calibration is {base_p99:.0f} ms" if base_p99 else ""
        mean = (
            f" With wrk's {CONNECTIONS} connections each waiting on its answer, the mean latency is {CONNECTIONS} / "
            f"rate (Little's law): {CONNECTIONS / rps * 1000:.0f} ms at {rps:.0f} req/s."
        )
        if rps > need:
            return (
                mean + f" That is within {p99_target_ms:.0f} ms: what misses is the tail, requests queued behind "
                "slower ones on a busy worker, on 2 cores shared with PostgreSQL and wrk."
            )
        out = (
            mean + f" A p99 of {p99_target_ms:.0f} ms needs a mean below it, so more than {need:.0f} req/s: "
            f"{need / base_rps:.2f}x the {base_rps:.0f} req/s of the baseline view measured beside it{own_p99}."
        )
        if need / base_rps > 0.5:
            out += (
                f" At {CONNECTIONS} clients on these 2 cores the p99 target asks for more than the ratio target "
                "does; more web cores are what meets both."
            )
        return out

    fixed_cost = (
        "What remains is Django REST framework's request cycle (negotiation, the JWT check, permissions, "
        "the throttle's Redis round trip, pagination, rendering) against a baseline that is one raw "
        "SELECT in a plain Django view. The transaction list and the message pages already read through "
        "written-out statements (`selectors.transaction_page`, `message_page`) instead of compiling "
        "an ORM query per request. What it would take: the same for the other hot reads, or plain "
        "Django views for them (losing DRF's negotiation and browsable API); more web cores scale "
        "all of it."
    )
    api = results.get("api", {})
    from bench.report_search import SEARCH_TARGETS

    search = results.get("search") or {}
    for name, (label, ratio, p99) in SEARCH_TARGETS.items():
        m = search.get(name)
        if m and (m["ratio_to_baseline"] < ratio or (p99 and m["p99_ms"] > p99)):
            cost = "listing_search" if name == "cached_with_edits" else "listing_search_uncached"
            out.append(
                f"- Listing search, {label} ({ratio_text(m['ratio_to_baseline'], ratio)} of the stack baseline,"
                f" {ratio_text(m['ratio_to_bare'])} of the bare one; p99 {m['p99_ms']:.0f} ms)."
                + cpu_bound(cost)
                + SEARCH_REASONS.get(name, "")
                + " "
                + fixed_cost
                + latency_floor(m, p99 or 50)
            )
    site = search.get("site_under_broad_hammer")
    if site and site["ratio_to_alone"] < 0.8:
        lifted = site.get("limits_lifted", site)
        alone, under, hammer = lifted["alone"]["rps"], lifted["rps"], lifted["hammer"]["rps"]
        lost = alone - under
        refused = site["hammer"].get("non_2xx", 0)
        out.append(
            f"- The rest of the site while broad searches are hammered ({ratio_text(site['ratio_to_alone'], 0.8)}"
            f" of its rate alone; {lifted['ratio_to_alone']:.2f}x with the per-address limits lifted). With"
            f" them lifted the site lost {lost:.0f} req/s while the hammer was served {hammer:.0f} uncached"
            f" searches/s: each displaced about {lost / hammer if hammer else 0:.1f} of the site's requests, and"
            f" {site['hammer_connections']} connections of {site['hammer_connections'] + CONNECTIONS}, answered"
            " as fast as the site's own, take their share of the same 2 cores"
            f" ({hammer / (hammer + under) if hammer + under else 0:.0%} of the requests served)."
            + (
                f" With the limits as deployed {refused:,} of the hammer's requests were refused, and a refusal"
                " still costs a web worker its request cycle and the throttle's Redis round trip."
                if refused
                else ""
            )
            + " What it would take: a rate limit at the proxy in front, so that a flood never reaches the"
            " web workers, or a limit on uncached searches across the site (at most so many web workers"
            " searching at once); more web cores."
        )
    tx = api.get("transactions_first_page")
    if tx and tx["ratio_to_baseline"] < 0.5:
        out.append(
            f"- Transaction list ({ratio_text(tx['ratio_to_baseline'], 0.5)})."
            + cpu_bound("transactions_first_page")
            + " "
            + fixed_cost
        )
    w = results.get("webhooks", {})
    if w and (w.get("ratio_to_baseline", 1) < 0.5 or w.get("p99_ms", 0) > 25):
        lazy = w.get("without_durable_commit")
        measured = (
            f" Measured in this run with the commit acknowledged before its WAL is flushed "
            f"(`synchronous_commit = off`), ingestion runs at {lazy['ratio_to_baseline']:.2f}x, p99 "
            f"{lazy['p99_ms']:.0f} ms: the durable commit, during which the worker idles, is a large share of "
            "what remains."
            if lazy
            else ""
        )
        out.append(
            f"- Webhook ingestion ({ratio_text(w['ratio_to_baseline'], 0.5)}, p99 {w['p99_ms']:.0f} ms)."
            + cpu_bound("webhook")
            + " Per event: the signature check over the raw body, one JSON parse, one committed insert of "
            "the payload (jsonb), and its share of a Celery publish (one message per ~50 ms of events under "
            "load). Each request also holds its sync worker while it waits for PostgreSQL (the insert's "
            "commit, the connection health check), with the CPU idle." + measured + " What it would take: more workers "
            "or threads to overlap those waits (the worker table compares them on this host), or "
            "`synchronous_commit = off` for the inbox "
            "insert, which would trade the durability the inbox exists for (a 200 tells Stripe the event is "
            "safe, and it will not send it again), so it stays on." + latency_floor(w, 25)
        )
    d = results.get("api_depth", {})
    m = results.get("messages_sql", {})
    if d and d.get("messages_cursor_vs_offset", 99) < 20:
        c = costs.get("messages_newest_page")
        need = f" (the baseline alone costs {base:.1f} ms)" if base else ""
        out.append(
            f"- Message history 100,000 deep over HTTP, cursor vs OFFSET ({d['messages_cursor_vs_offset']:.1f}x; "
            f"{m.get('cursor_vs_offset', 0):.0f}x at the SQL level). The OFFSET request's extra cost is its "
            f"query, {m.get('offset_ms', 0):.0f} ms; the cursor request is almost all fixed cost"
            + (f", {c['cpu_ms']:.1f} ms of CPU" if c else "")
            + ". 20x over HTTP would need the whole cursor "
            f"request under {m.get('offset_ms', 0) / 20:.1f} ms{need}: the fixed cost above, not the query, "
            "is what stands between."
        )
    if m and m.get("cursor_vs_offset", 999) < 100:
        floor = (
            f" A `SELECT 1` takes {m['round_trip_ms']:.2f} ms on the same connection: that round trip is the "
            "floor of any statement on this host, and most of the rest is decoding the 51 rows in Python."
            if "round_trip_ms" in m
            else ""
        )
        out.append(
            f"- Message history 100,000 deep at the SQL level, cursor vs OFFSET ({m['cursor_vs_offset']:.0f}x): the "
            f"cursor page costs {m['cursor_ms']:.2f} ms on one connection (parsed and planned on every "
            f"execution, as the application sends it; it reads 51 rows of {', '.join(m.get('cursor_plan_partitions', []))}"
            f" by the index, no sort), the OFFSET one {m['offset_ms']:.1f} ms." + floor + " The OFFSET's cost "
            "grows with the depth and the cursor's does not (far more than 100x at full scale, `full.md`), so here the ratio is "
            "bounded by the client round trip, not by the query; it reaches 100x where a round trip costs "
            "under a hundredth of the OFFSET query."
        )
    if m and m.get("partitioned_vs_unpartitioned", 1) < 0.8:
        out.append(
            f"- Partitioned vs unpartitioned thread queries ({m['partitioned_vs_unpartitioned']:.2f}x): the same "
            "bounded queries plan over the partitions their window keeps; the remaining difference is that "
            "planning."
        )
    r = results.get("rls", {})
    if r and r.get("ratio_on_to_off", 1) < 0.9:
        out.append(
            f"- RLS on vs off ({ratio_text(r['ratio_on_to_off'], 0.9)}, rounds {r['ratio_min']:.2f}–{r['ratio_max']:.2f}). "
            f"The query takes {r['rls_off_ms']:.2f} ms without RLS; the policies add a fixed "
            f"{r['rls_on_ms'] - r['rls_off_ms']:.3f} ms (planning the policy quals, their InitPlans "
            "reading the session settings once), which shows most on a query this cheap."
        )
    x = results.get("crossdb_resolution", {}).get("100", {})
    if x and x.get("speedup", 99) < 10:
        out.append(
            f"- Cross-DB resolution at page 100 ({x['speedup']:.1f}x): batched {x['batched_ms']:.2f} ms "
            f"against naive {x['naive_ms']:.2f} ms; the naive side is 100 primary-key queries on a warm "
            "loopback connection, cheap on a quiet host. The query count (constant vs one per row) is "
            "the figure that holds across hosts."
        )
    if not out:
        return []
    return ["", "## Missed targets: why, and what it would take", "", *out]
