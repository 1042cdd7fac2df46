"""Prints benchmark figures as one aligned table."""

from __future__ import annotations


def _fmt(value, unit=""):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}{unit}" if abs(value) < 100 else f"{value:.0f}{unit}"
    return f"{value}{unit}"


def print_table(rows: list[dict]) -> None:
    """One line per figure: median, p99, the baseline measured in the same run, the ratio, the target."""
    header = ("figure", "median", "p99", "baseline", "baseline median", "ratio", "target")
    lines = [header]
    for r in rows:
        unit = r.get("unit", " ms")
        lines.append((r["name"], _fmt(r.get("median_ms"), unit), _fmt(r.get("p99_ms"), unit),
                      r.get("baseline") or "-", _fmt(r.get("baseline_median_ms"), unit),
                      "-" if r.get("ratio") is None else f"{r['ratio']:.2f}", r.get("target", "")))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        print(" | ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
        if n == 0:
            print("-+-".join("-" * w for w in widths))
