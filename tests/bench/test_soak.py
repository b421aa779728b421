"""The soak's judging and report (bench/soak_check.py) against fixed outcomes and facts, without
running the soak: refusals (503 with a documented code and Retry-After) are counted apart from
unexpected 5xx, every unexpected answer is named with its request and phase, a broken invariant is
reported as broken, and the report section and history line carry the figures."""

import json
from pathlib import Path

from bench.report import SECTIONS, write_report
from bench.soak_check import PHASES, evaluate, phase_summary, soak_history_line, soak_lines

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "results.json"


def outcome(phase, status, ms, *, code="", retry_after=None, kind="listing_search", body=""):
    return {
        "phase": phase,
        "kind": kind,
        "method": "GET",
        "path": "/api/v1/marketplace/listings/",
        "status": status,
        "ms": ms,
        "code": code,
        "retry_after": retry_after,
        "body": body,
    }


CLEAN_FACTS = {
    "tenant.overpaid_invoices": 0,
    "duplicate_payment_intents": 0,
    **{
        f"{db}.{name}": 0
        for db in ("tenant", "marketplace")
        for name in ("outbox_open", "emails_sent_twice", "emails_sending", "emails_queued", "emails_delivery_unknown")
    },
}


def test_phase_summary_counts_refusals_apart_and_names_unexpected_answers():
    outcomes = [outcome("steady", 200, float(ms)) for ms in range(1, 101)]
    outcomes += [
        outcome("redis_restart", 503, 5.0, code="search_timeout", retry_after="2"),
        outcome("redis_restart", 503, 6.0, code="search_timeout"),  # no Retry-After: not a refusal
        outcome("redis_restart", 500, 7.0, kind="invoice_create", body="Internal Server Error"),
        outcome("redis_restart", 0, 30000.0, body="ConnectionResetError"),
    ]
    summary = phase_summary(outcomes)
    assert set(summary) == set(PHASES)
    steady = summary["steady"]
    assert (steady["requests"], steady["server_errors"], steady["refusals"], steady["no_answer"]) == (100, 0, 0, 0)
    assert steady["p50_ms"] == 51.0 and steady["p99_ms"] == 99.0
    down = summary["redis_restart"]
    assert (down["requests"], down["refusals"], down["server_errors"], down["no_answer"]) == (4, 1, 2, 1)
    assert [(u["status"], u["kind"]) for u in down["unexpected"]] == [
        (503, "listing_search"),
        (500, "invoice_create"),
        (0, "listing_search"),
    ]
    assert summary["recovery"] == {
        "requests": 0,
        "server_errors": 0,
        "no_answer": 0,
        "refusals": 0,
        "p50_ms": None,
        "p99_ms": None,
        "unexpected": [],
    }


def test_invariants_hold_on_clean_facts_and_break_on_each_fault():
    crossdb = {"problems": 0, "checked_rows": 1234, "summary": ""}
    assert all(i["ok"] for i in evaluate(CLEAN_FACTS, [], crossdb))
    broken = evaluate(
        {**CLEAN_FACTS, "tenant.overpaid_invoices": 2, "marketplace.outbox_open": 3, "tenant.emails_sending": 1},
        ["purchase key k: 1 then 2"],
        {"problems": 1, "checked_rows": 10, "summary": '{"check": "x"}'},
    )
    by_name = {i["name"]: i for i in broken}
    assert not by_name["nothing paid twice: no invoice with more paid than its total"]["ok"]
    assert by_name["nothing paid twice: no invoice with more paid than its total"]["found"] == 2
    assert (
        "marketplace 3"
        in by_name["outbox drained on both databases (nothing pending or stuck from before the drain)"]["detail"]
    )
    assert not by_name["no email stuck `sending` or still queued after the drain"]["ok"]
    assert "purchase key k" in by_name["an Idempotency-Key replay answers the first result"]["detail"]
    assert not by_name["crossdb_check clean"]["ok"]
    assert by_name["each email sent once (no event key sent twice)"]["ok"]
    assert not evaluate(CLEAN_FACTS, [], {"error": "crossdb_check: boom"})[-1]["ok"]


def test_report_section_and_history_line():
    results = json.loads(FIXTURE.read_text())
    assert "soak" in SECTIONS and "soak" in results
    soak = results["soak"]
    text = "\n".join(soak_lines(soak))
    assert "## Fault soak" in text
    for phase in PHASES:
        p = soak["phases"][phase]
        assert (
            f"| {phase.replace('_', ' ')} | {p['requests']} | {p['server_errors']} | {p['no_answer']} | "
            f"{p['refusals']} |" in text
        )
    for invariant in soak["invariants"]:
        assert f"| {invariant['name']} | {invariant['detail']} | {'held' if invariant['ok'] else 'BROKEN'} |" in text
    unexpected = next(u for p in soak["phases"].values() for u in p["unexpected"])
    assert f"{unexpected['method']} {unexpected['path']} ({unexpected['kind']})" in text
    line = soak_history_line(soak, "2026-12-06T23:40:00+00:00")
    total = sum(p["requests"] for p in soak["phases"].values())
    assert line.startswith("| 2026-12-06 23:40 |") and f"{total} requests" in line
    assert ("all held" in line) == all(i["ok"] for i in soak["invariants"])
    assert soak_lines({"error": "gunicorn did not start"})[-1] == "Not run to the end: gunicorn did not start"


def test_the_whole_report_carries_the_soak_section(tmp_path):
    text = write_report(json.loads(FIXTURE.read_text()), tmp_path)
    assert "## Fault soak" in text
