"""Compare outputs with per-output tolerances and report the worst element.

Float outputs pass where ``|a - e| <= atol + rtol * |e|`` element-wise, NaN matching NaN and
infinities matching exactly; integer outputs (indices) must be equal. Each row says the worst
element, where it is, and the tolerance that would have passed.

>>> import numpy as np
>>> got, want = np.array([1.0, 2.0], np.float32), np.array([1.0, 2.00001], np.float32)
>>> rep = compare_outputs({"y": got}, {"y": want})
>>> rep.ok, rep.rows[0].worst_index
(True, (1,))
>>> compare_outputs({"y": got.astype(np.float64)}, {"y": want.astype(np.float64)}).ok
False
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-9, 1e-12),
    "float32": (1e-4, 1e-5),
    "float16": (1e-2, 1e-3),
}
"""Default ``(rtol, atol)`` per dtype; integer and bool outputs compare exactly."""

SINGLE_OP_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-10, 1e-12),
    "float32": (1e-5, 1e-6),
    "float16": (1e-3, 1e-3),
}
"""Tighter ``(rtol, atol)`` for one layer against torch (the parity tests): no accumulated
rounding across layers, so a few ulps must do."""

Tolerance = float | Mapping[str, float] | None


@dataclass
class OutputComparison:
    """One output's comparison: errors, where the worst is, and the verdict."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    rtol: float
    atol: float
    ok: bool
    max_abs: float = 0.0
    max_rel: float = 0.0
    worst_index: tuple[int, ...] | None = None
    actual: Any = None
    expected: Any = None
    mismatches: int = 0
    needed_atol: float = 0.0
    """The smallest atol that would have passed with this rtol."""
    problem: str = ""
    pair: str = ""
    """Which two runs were compared (``"oracle vs torch"``) when a report holds several pairs."""

    def as_dict(self) -> dict[str, Any]:
        pair = {"pair": self.pair} if self.pair else {}
        return {
            **pair,
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "ok": self.ok,
            "max_abs": self.max_abs,
            "max_rel": self.max_rel,
            "rtol": self.rtol,
            "atol": self.atol,
            "mismatches": self.mismatches,
            "needed_atol": self.needed_atol,
            "worst_index": None if self.worst_index is None else list(self.worst_index),
            "actual": _plain(self.actual),
            "expected": _plain(self.expected),
            "problem": self.problem,
        }


@dataclass
class Report:
    """Comparisons of every output. ``str(report)`` is a table; ``ok`` is the verdict."""

    rows: list[OutputComparison]
    title: str = ""
    notes: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    """The providers the compared session really ran on (set by ``verify``)."""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def __bool__(self) -> bool:
        return self.ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "ok": self.ok,
            "notes": self.notes,
            "outputs": [r.as_dict() for r in self.rows],
        }

    def __str__(self) -> str:
        head: tuple[str, ...] = (
            "output",
            "dtype",
            "shape",
            "max_abs",
            "max_rel",
            "worst at",
            "rtol/atol",
            "result",
        )
        paired = any(r.pair for r in self.rows)
        if paired:
            head = ("pair", *head)
        body = []
        for r in self.rows:
            verdict = "ok" if r.ok else "FAIL"
            if not r.ok and r.problem:
                verdict += f": {r.problem}"
            elif not r.ok:
                # str, not repr: NumPy 2 writes a scalar's repr as np.float32(2.5)
                verdict += f": {r.mismatches} elements off; got {r.actual}, expected {r.expected}"
                if r.needed_atol:  # 0 for integer outputs: they compare exactly, no atol helps
                    verdict += f"; atol={r.needed_atol:.3g} would pass"
            body.append(
                (
                    *((r.pair,) if paired else ()),
                    r.name,
                    r.dtype,
                    "x".join(map(str, r.shape)) or "scalar",
                    f"{r.max_abs:.3g}",
                    f"{r.max_rel:.3g}",
                    "-" if r.worst_index is None else str(list(r.worst_index)),
                    "exact" if r.rtol == r.atol == 0 else f"{r.rtol:g}/{r.atol:g}",
                    verdict,
                )
            )
        lines = [self.title] if self.title else []
        lines.append(format_table(head, body))
        lines += self.notes
        return "\n".join(lines)


def format_table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart.

    >>> print(format_table(("a", "bb"), [(1, 2)]))
    a  bb
    1  2
    """
    widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        for r in (head, *rows)
    )


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return str(v)
    return v


def _pick(tol: Tolerance, name: str, default: float) -> float:
    if tol is None:
        return default
    if isinstance(tol, Mapping):
        return float(tol.get(name, default))
    return float(tol)


def compare_array(
    name: str, actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float
) -> OutputComparison:
    """Compare one output; NaN equals NaN, inf must match exactly."""
    a, e = np.asarray(actual), np.asarray(expected)
    exact = e.dtype.kind in "iub"
    if exact:
        rtol = atol = 0.0
    row = OutputComparison(name, e.dtype.name, tuple(e.shape), rtol, atol, ok=True)
    if a.shape != e.shape or a.dtype != e.dtype:
        row.ok = False
        row.problem = f"got shape {a.shape} {a.dtype.name}, expected shape {e.shape} {e.dtype.name}"
        return row
    if e.size == 0:
        return row
    if exact:
        bad = a != e
        diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
    else:
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(a64 - e64)
            same_special = (np.isnan(a64) & np.isnan(e64)) | (a64 == e64)
            diff = np.where(same_special, 0.0, diff)
            diff = np.where(np.isnan(diff), np.inf, diff)
            excess = diff - rtol * np.abs(np.nan_to_num(e64, nan=0.0, posinf=0, neginf=0))
            bad = excess > atol
            row.needed_atol = float(max(excess.max(), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(e.astype(np.float64)))
    rel = np.nan_to_num(rel, nan=np.inf)
    worst = np.unravel_index(int(np.argmax(diff)), e.shape)
    row.max_abs, row.max_rel = float(diff.max()), float(rel.max())
    row.worst_index = tuple(int(i) for i in worst)
    row.actual, row.expected = a[worst], e[worst]
    row.mismatches = int(np.count_nonzero(bad))
    row.ok = row.mismatches == 0
    return row


def compare_outputs(
    actual: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    *,
    rtol: Tolerance = None,
    atol: Tolerance = None,
    title: str = "",
) -> Report:
    """Compare every expected output; ``rtol``/``atol`` are a number or ``{output: value}``."""
    rows = []
    for name, e in expected.items():
        e = np.asarray(e)
        d_rtol, d_atol = DEFAULT_TOLERANCES.get(e.dtype.name, (0.0, 0.0))
        if name not in actual:
            rows.append(
                OutputComparison(
                    name,
                    e.dtype.name,
                    tuple(e.shape),
                    d_rtol,
                    d_atol,
                    ok=False,
                    problem="missing from the actual outputs",
                )
            )
            continue
        rows.append(
            compare_array(
                name,
                np.asarray(actual[name]),
                e,
                _pick(rtol, name, d_rtol),
                _pick(atol, name, d_atol),
            )
        )
    return Report(rows, title)
