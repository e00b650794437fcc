"""compare_outputs / compare_array: default tolerances at their edges, NaN, inf, exact integer
outputs, problem rows, per-output tolerances, the worst element and the report."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest

from onnxlayers.runtime.compare import (
    DEFAULT_TOLERANCES,
    OutputComparison,
    Report,
    compare_array,
    compare_outputs,
)

# The documented defaults, written out: loosening DEFAULT_TOLERANCES must fail these tests.
DEFAULTS = {"float64": (1e-9, 1e-12), "float32": (1e-4, 1e-5), "float16": (1e-2, 1e-3)}
FLOATS = sorted(DEFAULTS)


def one(actual: Any, expected: Any, dtype: str = "float32", **tol: Any) -> OutputComparison:
    """The single row of comparing output ``y``."""
    report = compare_outputs(
        {"y": np.array(actual, dtype)}, {"y": np.array(expected, dtype)}, **tol
    )
    (row,) = report.rows
    assert row.ok is report.ok
    return row


def test_defaults_are_the_documented_ones() -> None:
    assert DEFAULT_TOLERANCES == DEFAULTS


# ------------------------------------------------------------------ tolerance edges
@pytest.mark.parametrize("dtype", FLOATS)
def test_atol_edge_at_zero(dtype: str) -> None:
    """Where the expected value is 0 only atol counts: 0.9 atol passes, 1.1 atol fails."""
    _, atol = DEFAULTS[dtype]
    assert one([0.9 * atol], [0.0], dtype).ok
    assert one([-0.9 * atol], [0.0], dtype).ok
    row = one([1.1 * atol], [0.0], dtype)
    assert not row.ok and row.mismatches == 1 and row.rtol == DEFAULTS[dtype][0]


@pytest.mark.parametrize(
    ("dtype", "expected", "inside", "outside"),
    [
        # allowed |a - e| = atol + rtol * |e|: 1e-6 + 1e-12 at 1000 (float64)
        ("float64", 1000.0, 1000.0 + 0.99e-6, 1000.0 + 1.01e-6),
        # 0.1 + 1e-5 at 1000; float32 steps there are 6.1e-5
        ("float32", 1000.0, 1000.0 + 0.0999, 1000.0 - 0.1002),
        # 1 + 1e-3 at 100; float16 steps there are 0.0625: 100.9375 is inside, 101.0625 is not
        ("float16", 100.0, 100.9375, 101.0625),
    ],
)
def test_rtol_edge(dtype: str, expected: float, inside: float, outside: float) -> None:
    assert one([inside], [expected], dtype).ok
    row = one([outside], [expected], dtype)
    assert not row.ok and row.worst_index == (0,)


def test_float32_defaults_are_tighter_than_a_loose_guess() -> None:
    """Errors a (1e-1, 1e-2) tolerance would let through fail by default."""
    assert not one([0.005], [0.0]).ok
    assert not one([1.05], [1.0]).ok


def test_tolerance_is_relative_to_the_expected_value() -> None:
    rtol, atol = DEFAULTS["float32"]
    e = 1000.0
    err = 0.9 * (atol + rtol * e)
    assert one([e + err], [e]).ok  # |e| large: fine
    assert not one([err], [0.0]).ok  # the same error at 0: too much


# ------------------------------------------------------------------ NaN and inf
@pytest.mark.parametrize("dtype", FLOATS)
def test_nan_actual_against_a_number_fails(dtype: str) -> None:
    row = one([1.0, np.nan], [1.0, 2.0], dtype)
    assert not row.ok and row.mismatches == 1
    assert row.worst_index == (1,) and np.isnan(row.actual) and row.expected == 2.0
    assert row.max_abs == np.inf


@pytest.mark.parametrize("dtype", FLOATS)
def test_number_against_nan_expected_fails(dtype: str) -> None:
    row = one([1.0, 2.0], [1.0, np.nan], dtype)
    assert not row.ok and row.mismatches == 1 and row.worst_index == (1,)


@pytest.mark.parametrize("dtype", FLOATS)
def test_nan_matches_nan(dtype: str) -> None:
    row = one([np.nan, 1.0], [np.nan, 1.0], dtype)
    assert row.ok and row.max_abs == 0.0 and row.mismatches == 0


@pytest.mark.parametrize("inf", [np.inf, -np.inf])
def test_inf_matches_the_same_inf(inf: float) -> None:
    row = one([inf, 0.0], [inf, 0.0])
    assert row.ok and row.max_abs == 0.0


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (np.inf, -np.inf),
        (-np.inf, np.inf),
        (np.inf, 3e38),
        (3e38, np.inf),
        (-np.inf, -3e38),
        (np.nan, np.inf),
        (np.inf, np.nan),
    ],
)
def test_inf_against_anything_else_fails(actual: float, expected: float) -> None:
    row = one([actual], [expected])
    assert not row.ok and row.mismatches == 1 and row.max_abs == np.inf


def test_inf_fails_even_with_huge_tolerances() -> None:
    assert not one([np.inf], [-np.inf], rtol=1e30, atol=1e30).ok
    assert not one([np.nan], [1.0], rtol=1e30, atol=1e30).ok


# ------------------------------------------------------------------ exact outputs
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_integer_outputs_are_exact(dtype: str) -> None:
    same = one([0, 5, 7], [0, 5, 7], dtype)
    assert same.ok and (same.rtol, same.atol) == (0.0, 0.0)
    row = one([0, 5, 8], [0, 5, 7], dtype)
    assert not row.ok and row.mismatches == 1
    assert (row.worst_index, row.actual, row.expected, row.max_abs) == ((2,), 8, 7, 1.0)
    assert row.needed_atol == 0.0  # no tolerance applies to indices


def test_integer_outputs_ignore_tolerances() -> None:
    assert not one([0, 6], [0, 5], "int64", rtol=1.0, atol=10.0).ok


def test_bool_outputs_are_exact() -> None:
    assert one([True, False], [True, False], "bool").ok
    row = one([True, True], [True, False], "bool")
    assert not row.ok and row.worst_index == (1,)


def test_exact_failure_does_not_claim_a_tolerance_would_pass() -> None:
    text = str(compare_outputs({"i": np.array([1, 3])}, {"i": np.array([1, 2])}))
    assert "FAIL" in text and "exact" in text and "would pass" not in text


# ------------------------------------------------------------------ problem rows
@pytest.mark.parametrize(
    ("actual", "words"),
    [
        (
            np.zeros((2, 3), np.float32),
            r"got shape \(2, 3\) float32, expected shape \(3, 2\) float32",
        ),
        (
            np.zeros((3, 2), np.float64),
            r"got shape \(3, 2\) float64, expected shape \(3, 2\) float32",
        ),
        (np.zeros((3, 2), np.int32), r"got shape \(3, 2\) int32, expected shape \(3, 2\) float32"),
    ],
)
def test_shape_or_dtype_mismatch_is_a_problem_row(actual: np.ndarray, words: str) -> None:
    report = compare_outputs({"y": actual}, {"y": np.zeros((3, 2), np.float32)})
    (row,) = report.rows
    assert not report.ok and row.problem and row.worst_index is None
    assert re.search(words, row.problem), row.problem
    assert row.problem in str(report)


def test_missing_output_is_a_problem_row() -> None:
    expected: dict[str, np.ndarray] = {"y": np.ones(2, np.float32), "z": np.ones(2, np.float16)}
    report = compare_outputs({"y": np.ones(2, np.float32)}, expected)
    y, z = report.rows
    assert y.ok and not z.ok and not report.ok
    assert (z.name, z.dtype, z.shape) == ("z", "float16", (2,))
    assert z.problem == "missing from the actual outputs"
    assert (z.rtol, z.atol) == DEFAULTS["float16"]


def test_extra_actual_outputs_are_ignored() -> None:
    report = compare_outputs({"y": np.ones(2), "extra": np.zeros(2)}, {"y": np.ones(2)})
    assert report.ok and [r.name for r in report.rows] == ["y"]


def test_empty_outputs_pass() -> None:
    assert one(np.zeros((0, 3)), np.zeros((0, 3))).ok


# ------------------------------------------------------------------ tolerances given
def test_per_output_tolerance_mappings() -> None:
    actual = {"a": np.array([1.5], np.float32), "b": np.array([1.5], np.float32)}
    expected = {"a": np.array([1.0], np.float32), "b": np.array([1.0], np.float32)}
    report = compare_outputs(actual, expected, atol={"a": 0.6})
    a, b = report.rows
    assert a.ok and (a.rtol, a.atol) == (DEFAULTS["float32"][0], 0.6)
    assert not b.ok and (b.rtol, b.atol) == DEFAULTS["float32"]
    by_rtol = compare_outputs(actual, expected, rtol={"b": 0.6})
    assert [r.ok for r in by_rtol.rows] == [False, True]


def test_one_number_applies_to_every_output() -> None:
    actual = {"a": np.array([1.5]), "b": np.array([2.5])}
    expected = {"a": np.array([1.0]), "b": np.array([2.0])}
    assert compare_outputs(actual, expected, atol=0.5).ok
    assert not compare_outputs(actual, expected, atol=0.49).ok


# ------------------------------------------------------------------ worst element
def test_worst_element_and_the_atol_that_would_pass() -> None:
    expected = np.zeros((2, 3, 4), np.float32)
    actual = expected.copy()
    actual[0, 1, 2] = 0.01
    actual[1, 2, 3] = -0.03  # the worst
    row = compare_array("y", actual, expected, rtol=1e-4, atol=1e-5)
    assert not row.ok and row.mismatches == 2
    assert row.worst_index == (1, 2, 3)
    assert row.actual == np.float32(-0.03) and row.expected == 0.0
    assert row.max_abs == pytest.approx(0.03, rel=1e-6) and row.max_rel > 1e300  # e = 0
    assert row.needed_atol == pytest.approx(0.03)
    again = compare_array("y", actual, expected, rtol=1e-4, atol=row.needed_atol)
    assert again.ok
    assert not compare_array("y", actual, expected, rtol=1e-4, atol=row.needed_atol * 0.99).ok


def test_needed_atol_accounts_for_rtol() -> None:
    expected = np.array([100.0, 1.0])
    actual = np.array([100.5, 1.2])
    row = compare_array("y", actual, expected, rtol=1e-2, atol=0.0)
    assert row.worst_index == (0,) and row.max_rel == pytest.approx(0.2)
    # |a - e| - rtol * |e|: 0.5 - 1.0 < 0 at 100 and 0.2 - 0.01 at 1
    assert row.needed_atol == pytest.approx(0.19)
    assert compare_array("y", actual, expected, rtol=1e-2, atol=row.needed_atol).ok


def test_passing_output_needs_no_atol() -> None:
    row = one([1.0, 2.0], [1.0, 2.0])
    assert row.ok and row.needed_atol == 0.0 and row.worst_index == (0,)


# ------------------------------------------------------------------ the report
def failing_report() -> Report:
    actual = {"y": np.array([1.0, 2.5], np.float32), "i": np.array([1, 2])}
    expected = {"y": np.array([1.0, 2.0], np.float32), "i": np.array([1, 2])}
    report = compare_outputs(actual, expected, title="ort vs oracle")
    report.notes.append("seed 0")
    return report


def test_report_str() -> None:
    report = failing_report()
    lines = str(report).splitlines()
    assert lines[0] == "ort vs oracle" and lines[-1] == "seed 0"
    assert lines[1].split() == [
        "output",
        "dtype",
        "shape",
        "max_abs",
        "max_rel",
        "worst",
        "at",
        "rtol/atol",
        "result",
    ]
    y, i = lines[2], lines[3]
    assert y.split()[:6] == ["y", "float32", "2", "0.5", "0.25", "[1]"]
    assert "0.0001/1e-05" in y
    assert "FAIL: 1 elements off; got 2.5, expected 2.0; atol=0.5 would pass" in y
    assert i.split() == ["i", "int64", "2", "0", "0", "[0]", "exact", "ok"]
    assert not report and not report.ok


def test_report_str_with_pairs_and_scalars() -> None:
    row = compare_array("s", np.float64(1.0), np.float64(1.0), rtol=0.0, atol=0.0)
    row.pair = "oracle vs torch"
    text = str(Report([row]))
    assert text.splitlines()[0].split()[0] == "pair"
    assert "oracle vs torch" in text and "scalar" in text


def test_report_as_dict_is_json() -> None:
    report = failing_report()
    data = json.loads(json.dumps(report.as_dict()))
    assert (data["title"], data["ok"], data["notes"]) == ("ort vs oracle", False, ["seed 0"])
    y, i = data["outputs"]
    assert y == {
        "name": "y",
        "dtype": "float32",
        "shape": [2],
        "ok": False,
        "max_abs": 0.5,
        "max_rel": 0.25,
        "rtol": 1e-4,
        "atol": 1e-5,
        "mismatches": 1,
        "needed_atol": pytest.approx(0.5 - 1e-4 * 2.0),
        "worst_index": [1],
        "actual": 2.5,
        "expected": 2.0,
        "problem": "",
    }
    assert i["ok"] and i["rtol"] == i["atol"] == 0.0


def test_as_dict_writes_infinities_and_nan_as_text() -> None:
    data = compare_outputs({"y": np.array([np.nan])}, {"y": np.array([np.inf])}).as_dict()
    out = data["outputs"][0]
    assert (out["actual"], out["expected"], out["max_abs"]) == ("nan", "inf", np.inf)
    json.dumps(data)
