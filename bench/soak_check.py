"""The soak's figures and invariants (bench/soak.py): per-phase request counts, 5xx, expected
refusals and latency from the load's outcomes; after the drain, the facts read from both databases
(`collect_facts`), judged by `evaluate` (pure, so tests/bench/test_soak.py checks it against a
fixture); and the report's section (`soak_lines`)."""

from __future__ import annotations

from bench.soak_load import EXPECTED_REFUSALS

PHASES = ("steady", "worker_killed", "steady_2", "redis_restart", "recovery")


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def is_refusal(o: dict) -> bool:
    return o["status"] == 503 and o["code"] in EXPECTED_REFUSALS and bool(o.get("retry_after"))


def phase_summary(outcomes: list[dict]) -> dict:
    """Per phase: requests, 5xx (not counting expected refusals), refusals, no answer, p50/p99 (ms),
    and the first unexpected answers with their request (at most 10 per phase)."""
    out = {}
    for phase in PHASES:
        rows = [o for o in outcomes if o["phase"] == phase]
        refusals = [o for o in rows if is_refusal(o)]
        unexpected = [o for o in rows if (o["status"] >= 500 and not is_refusal(o)) or o["status"] == 0]
        times = [o["ms"] for o in rows if o["status"]]
        out[phase] = {
            "requests": len(rows),
            "server_errors": sum(1 for o in unexpected if o["status"]),
            "no_answer": sum(1 for o in unexpected if not o["status"]),
            "refusals": len(refusals),
            "p50_ms": percentile(times, 50),
            "p99_ms": percentile(times, 99),
            "unexpected": [
                {k: o[k] for k in ("kind", "method", "path", "status", "code", "body")} for o in unexpected[:10]
            ],
        }
    return out


# --- the invariants --------------------------------------------------------------------------------

TENANT_FACTS = {
    # A tenant invoice whose payments add up to more than its total: paid twice.
    "overpaid_invoices": "SELECT count(*) FROM (SELECT i.id FROM invoices i JOIN payments p ON p.invoice_id = i.id "
    "AND p.kind = 'payment' GROUP BY i.id, i.total_cents "
    "HAVING sum(p.amount_cents) > i.total_cents) x",
}
BOTH_FACTS = {
    "outbox_open": "SELECT count(*) FROM outbox_messages WHERE status <> 'applied' AND created_at < %(drained)s",
    "emails_sent_twice": "SELECT count(*) FROM (SELECT event_key FROM outbound_emails WHERE status = 'sent' "
    "GROUP BY event_key HAVING count(*) > 1) x",
    "emails_sending": "SELECT count(*) FROM outbound_emails WHERE status = 'sending'",
    "emails_queued": "SELECT count(*) FROM outbound_emails WHERE status = 'queued' AND created_at < %(drained)s",
    "emails_delivery_unknown": "SELECT count(*) FROM outbound_emails WHERE status = 'delivery_unknown' "
    "AND created_at >= %(started)s",
}
#: Wherever invoice_payments lives: more than one payment intent for one invoice.
INTENT_FACT = (
    "SELECT count(*) FROM (SELECT invoice_kind, invoice_id FROM invoice_payments "
    "WHERE stripe_payment_intent_id IS NOT NULL GROUP BY 1, 2 "
    "HAVING count(DISTINCT stripe_payment_intent_id) > 1) x"
)


def collect_facts(environment: dict, started, drained) -> dict:
    """The counts `evaluate` judges, read as the superuser (no row-level security) from both
    databases: `started` is when the load began, `drained` when the drain finished."""
    import psycopg

    from bench.environment import admin_url

    facts: dict = {"duplicate_payment_intents": 0}
    for label, variable in (("tenant", "TENANT_DATABASE_URL"), ("marketplace", "MARKETPLACE_DATABASE_URL")):
        with psycopg.connect(admin_url(environment, variable)) as conn:
            queries = {**BOTH_FACTS, **(TENANT_FACTS if label == "tenant" else {})}
            for name, sql in queries.items():
                facts[f"{label}.{name}"] = conn.execute(sql, {"drained": drained, "started": started}).fetchone()[0]
            if conn.execute("SELECT to_regclass('invoice_payments')").fetchone()[0]:
                facts["duplicate_payment_intents"] += conn.execute(INTENT_FACT).fetchone()[0]
    return facts


def evaluate(facts: dict, replay_mismatches: list[str], crossdb: dict) -> list[dict]:
    """Each invariant: its name, whether it holds, and what was found."""

    def both(name: str) -> int:
        return facts.get(f"tenant.{name}", 0) + facts.get(f"marketplace.{name}", 0)

    def row(name: str, found: int, detail: str) -> dict:
        return {"name": name, "ok": found == 0, "found": found, "detail": detail}

    return [
        row(
            "nothing paid twice: no invoice with more paid than its total",
            facts["tenant.overpaid_invoices"],
            f"{facts['tenant.overpaid_invoices']} overpaid tenant invoices",
        ),
        row(
            "nothing paid twice: one Stripe payment intent per invoice",
            facts["duplicate_payment_intents"],
            f"{facts['duplicate_payment_intents']} invoices with more than one",
        ),
        row(
            "an Idempotency-Key replay answers the first result",
            len(replay_mismatches),
            "; ".join(replay_mismatches[:3]) or "every replay gave the first id",
        ),
        row(
            "outbox drained on both databases (nothing pending or stuck from before the drain)",
            both("outbox_open"),
            f"tenant {facts['tenant.outbox_open']}, marketplace {facts['marketplace.outbox_open']}",
        ),
        row(
            "each email sent once (no event key sent twice)",
            both("emails_sent_twice"),
            f"tenant {facts['tenant.emails_sent_twice']}, marketplace {facts['marketplace.emails_sent_twice']}",
        ),
        row(
            "no email stuck `sending` or still queued after the drain",
            both("emails_sending") + both("emails_queued"),
            f"sending {both('emails_sending')}, queued {both('emails_queued')}; delivery unknown (a worker "
            f"killed mid-send, for staff) {both('emails_delivery_unknown')}",
        ),
        row(
            "crossdb_check clean",
            crossdb.get("problems", 1) if "error" not in crossdb else 1,
            crossdb.get("error")
            or f"{crossdb['problems']} problems; checked {crossdb['checked_rows']:,} rows"
            + (f": {crossdb['summary']}" if crossdb.get("summary") else ""),
        ),
    ]


# --- the report ------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def soak_lines(s: dict | None) -> list[str]:
    """The report's soak section (bench/report.py)."""
    if not s:
        return []
    if "error" in s:
        return ["", "## Fault soak", "", f"Not run to the end: {s['error']}"]
    c = s["config"]
    lines = [
        "",
        "## Fault soak",
        "",
        f"{c['clients']} clients, one request after another (reads, authenticated writes with Idempotency-Keys "
        f"and repeats, signed Stripe deliveries with repeats) against gunicorn, a Celery worker and beat, on "
        f"the bench's own Redis. Phases of {c['steady_seconds']} s; the worker SIGKILLed and restarted after "
        f"{c['worker_down_seconds']} s; Redis stopped for {c['redis_down_seconds']} s and started again. "
        f"Drained in {s['drain_seconds']:.0f} s (limit {c['drain_limit_seconds']} s).",
        "",
        "| phase | requests | 5xx (unexpected) | no answer | 503 refusals (expected, Retry-After) | p50 ms | p99 ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for phase in PHASES:
        p = s["phases"][phase]
        lines.append(
            f"| {phase.replace('_', ' ')} | {p['requests']} | {p['server_errors']} | {p['no_answer']} | "
            f"{p['refusals']} | {_ms(p['p50_ms'])} | {_ms(p['p99_ms'])} |"
        )
    lines += ["", "| invariant after the drain | found | |", "| --- | --- | --- |"]
    lines += [f"| {i['name']} | {i['detail']} | {'held' if i['ok'] else 'BROKEN'} |" for i in s["invariants"]]
    unexpected = [(phase, u) for phase in PHASES for u in s["phases"][phase]["unexpected"]]
    if unexpected:
        lines += ["", "Unexpected answers (first ones per phase):", ""]
        lines += [
            f"- {phase}: {u['method']} {u['path']} ({u['kind']}) → {u['status'] or 'no answer'}"
            f"{' ' + u['code'] if u['code'] else ''}: `{u['body'][:160]}`"
            for phase, u in unexpected
        ]
    return lines


def soak_history_line(s: dict, finished_at: str) -> str:
    """One line for bench/reports/history.md's table."""
    errors = sum(p["server_errors"] + p["no_answer"] for p in s["phases"].values())
    refusals = sum(p["refusals"] for p in s["phases"].values())
    broken = [i["name"] for i in s["invariants"] if not i["ok"]]
    total = sum(p["requests"] for p in s["phases"].values())
    return (
        f"| {finished_at[:16].replace('T', ' ')} | fault soak: {total} requests over 5 phases, {errors} unexpected "
        f"5xx/no answer, {refusals} expected 503 refusals; invariants "
        + ("all held" if not broken else "BROKEN: " + ", ".join(broken))
        + " |"
    )
