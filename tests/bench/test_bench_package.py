"""The bench (bench/) cannot rot unnoticed: every module imports, none runs Python code from a
string, every module stays small, the wrk output parser reads wrk's output, and the report writer
turns a results fixture with every section into the report (both baselines on every HTTP ratio)."""

import importlib
import json
import pkgutil
import re
from pathlib import Path

import bench
from bench.load import parse_wrk
from bench.report import SECTIONS, write_report
from bench.report_design import LOAD_LABELS, STATEMENT_LABELS
from bench.sql_transactions import LAYOUTS

BENCH_DIR = Path(bench.__file__).resolve().parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "results.json"


def bench_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages([str(BENCH_DIR)], prefix="bench."))


def test_every_bench_module_imports():
    modules = bench_modules()
    assert {"bench.run", "bench.report", "bench.search", "bench.servers", "bench.probes.users"} <= set(modules)
    for name in modules:
        importlib.import_module(name)


def test_no_python_code_in_strings_and_modules_stay_small():
    for path in BENCH_DIR.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r'sys\.executable,\s*"-c"', text), f"{path.name} runs Python code from a string"
        assert len(text.splitlines()) <= 400, path.name


def test_wrk_output_parser():
    out = (
        "Running 8s test @ http://127.0.0.1:1/\n  Requests/sec:   1520.25\n"
        "  Non-2xx or 3xx responses: 3\nbench-percentile 50 10200\nbench-percentile 95 15300\n"
        "bench-percentile 99 17900\n"
    )
    assert parse_wrk(out) == {"rps": 1520.25, "p50_ms": 10.2, "p95_ms": 15.3, "p99_ms": 17.9, "non_2xx": 3}


def test_report_writer_against_the_fixture(tmp_path):
    results = json.loads(FIXTURE.read_text())
    assert set(SECTIONS) <= set(results)
    text = write_report(results, tmp_path)
    assert (tmp_path / "latest.md").read_text() == text
    assert json.loads((tmp_path / "latest.json").read_text()) == results
    search = results["search"]
    # Every search figure against both baselines, with its p99 and verdict.
    uncached = search["uncached_random"]
    row = next(line for line in text.splitlines() if "a different random search each request" in line)
    assert f"{uncached['ratio_to_baseline']:.2f}x stack / {uncached['ratio_to_bare']:.2f}x bare" in row
    assert f"/{uncached['p99_ms']:.1f} ms" in row and "≥ 0.3x stack, p99 ≤ 50 ms" in row
    site = search["site_under_broad_hammer"]
    row = next(line for line in text.splitlines() if "clients flood broad searches" in line)
    assert f"{site['ratio_to_alone']:.2f}x" in row and ("met" if site["ratio_to_alone"] >= 0.8 else "MISSED") in row
    assert "bare baseline view (no middleware" in text
    for name, plan in results["search_plan"]["classes"].items():
        assert f"listing search plan, {name}: '{plan['query']}'" in text and plan["plan"] in text
        if "expected_plan" in plan:  # reports from before the expected plans have none
            row = next(line for line in text.splitlines() if f"listing search plan, {name}:" in line)
            assert row.endswith(f"| plan: {plan['expected_plan']} | as expected |"), row
    for name in ("transactions first page", "messages newest page", "contacts with marketplace names"):
        assert re.search(
            rf"\| API {name} \(\d+ users, a random one each request\) vs baselines \(stack / bare\) \| "
            r"[\d.]+x stack / [\d.]+x bare",
            text,
        ), name
    # The design-scale figures: partitioned transactions per statement and layout, the replica's
    # ratio per load, the search growth per term class and size.
    for name, statement in results["transactions_sql"]["statements"].items():
        row = next(line for line in text.splitlines() if line.startswith(f"| {STATEMENT_LABELS[name]} ("))
        for layout in LAYOUTS:
            assert f"{statement[layout]['ratio']:.2f}x" in row and f"({statement[layout]['partitions_read']})" in row
    for name, load in results["replica"]["loads"].items():
        row = next(line for line in text.splitlines() if line.startswith(f"| {LOAD_LABELS[name]} |"))
        assert f"| {load['with_vs_without']:.2f}x |" in row and f"{load['standby_transactions']:,} |" in row
    growth = results["search_growth"]
    for size in growth["sizes"]:
        assert f"{size:,} listings" in text
    for name, plan in growth["points"][str(growth["sizes"][-1])].items():
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} |") and "matches" in line)
        assert f"{plan['matches']:,} matches" in row
    if any(" MISSED" in line for line in text.splitlines() if line.startswith("|")):
        assert "## Missed targets: why, and what it would take" in text
