"""Numbers that must fit narrow places: a table column, an axis label, a counter."""

from __future__ import annotations

EXACT_BELOW = 100_000  # counts below this are shown exactly


def compact(value: float) -> str:
    """Three significant digits with k, M or G: 314160 -> '314k', 1234567 -> '1.23M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size * 0.9995:
            scaled = value / size
            return f"{scaled:.3g}{unit}" if abs(scaled) < 999.5 else f"{scaled:.0f}{unit}"
    return f"{value:g}"


def count(n: int, separator: str = ",") -> str:
    """Exact and grouped below EXACT_BELOW, compact from there (the exact one goes in a tip)."""
    return f"{n:,}".replace(",", separator) if n < EXACT_BELOW else compact(n)
