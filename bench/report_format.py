"""Formatting shared by the report's modules."""

from __future__ import annotations


def verdict(achieved: float, target: float, higher_is_better: bool = True) -> str:
    ok = achieved >= target if higher_is_better else achieved <= target
    return "met" if ok else "MISSED"


def ratio_text(ratio: float, target: float | None = None) -> str:
    """A ratio with two decimals, or two significant digits below 0.1 (0.0041x, not 0.00x); more
    decimals where two would round a miss up to its target (0.498x, not a missed 0.50x)."""
    text = f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"
    decimals = 2
    while target is not None and ratio < target and float(text) >= target and decimals < 6:
        decimals += 1
        text = f"{ratio:.{decimals}f}"
    return text + "x"


def both(m: dict, target: float | None = None) -> str:
    """A rate against both baselines: "0.41x stack / 0.30x bare"."""
    return (
        f"{ratio_text(m['ratio_to_baseline'], target)} stack / {ratio_text(m['ratio_to_bare'])} bare"
        if "ratio_to_bare" in m
        else ratio_text(m["ratio_to_baseline"], target)
    )


def latency(m: dict) -> str:
    if "p95_ms" in m:
        return f"p50/p95/p99 {m['p50_ms']:.1f}/{m['p95_ms']:.1f}/{m['p99_ms']:.1f} ms"
    return f"p99 {m['p99_ms']:.1f} ms"


def non_2xx(m: dict) -> str:
    return f", {m['non_2xx']} non-2xx" if m.get("non_2xx") else ""
