"""Cohort tables (sim.theory.cohorts): reading, validation messages, writing."""

from __future__ import annotations

from pathlib import Path

import pytest
from cohort_cases import EXAMPLE, write_table

from sim import InputError
from sim.theory.calibration import example_cohorts
from sim.theory.cohorts import read_cohorts, write_cohorts

GOOD = "segment,period,alive\nsmb,0,100\nsmb,1,80\nsmb,2,70\n"
BAD_TABLES = {
    "empty file": ("", "", "empty file"),
    "blank lines only": ("\n\n  \n", "", "empty file"),
    "header only": ("period,alive\n", "", "no data rows"),
    "no header": ("0,100\n1,80\n2,70\n", "row 1", "the first row must be a header"),
    "missing column": ("period\n0\n1\n2\n", "row 1", "missing column 'alive'"),
    "misspelt column": (
        "period,alvie\n0,100\n", "row 1", "unknown column 'alvie' (did you mean 'alive'?)"
    ),
    "unknown column": ("period,alive,cohort\n0,100,a\n", "row 1", "unknown column 'cohort'"),
    "duplicate column": ("period,alive,alive\n", "row 1", "column 'alive' appears twice"),
    "wrong field count": ("period,alive\n0,100\n1,80,3\n", "row 3", "expected 2 values"),
    "non-integer count": ("period,alive\n0,100\n1,85.5\n2,70\n", "row 3",
                          "alive: expected a whole number, got '85.5'"),
    "text count": ("period,alive\n0,100\n1,lots\n", "row 3",
                   "alive: expected a whole number, got 'lots'"),
    "empty count": ("period,alive\n0,100\n1,\n", "row 3", "alive is empty"),
    "non-integer period": ("period,alive\n0,100\n1.5,80\n", "row 3",
                           "period: expected a whole number, got '1.5'"),
    "negative count": ("period,alive\n0,100\n1,-5\n", "row 3", "alive must be ≥ 0, got -5"),
    "not starting at 0": ("period,alive\n1,100\n2,80\n3,70\n", "row 2",
                          "the first period is 1: periods must start at 0"),
    "gap": ("period,alive\n0,100\n1,80\n3,70\n", "row 4",
            "period 3 follows period 1: period 2 is missing"),
    "wide gap": ("period,alive\n0,100\n1,80\n5,70\n", "row 4", "periods 2..4 are missing"),
    "decreasing periods": ("period,alive\n0,100\n2,80\n1,90\n", "row 3",
                           "period 2 follows period 0"),
    "periods going back": ("period,alive\n0,100\n1,80\n2,70\n1,60\n", "row 5",
                           "period 1 appears twice (also row 3)"),
    "alive increasing": ("period,alive\n0,100\n1,80\n2,85\n", "row 4",
                         "alive increases from 80 to 85"),
    "too few periods": ("period,alive\n0,100\n1,80\n", "",
                        "only 2 period(s) (0..1): at least 3"),
    "empty cohort": ("period,alive\n0,0\n1,0\n2,0\n", "row 2", "the cohort size"),
    "empty segment name": ("segment,period,alive\n,0,100\n", "row 2", "segment is empty"),
    "segment with a bad cohort": (
        GOOD + "enterprise,0,50\nenterprise,1,40\nsmb,3,72\nenterprise,2,45\n",
        "segment smb, row 7",
        "alive increases from 70 to 72",
    ),
    "segment alive increasing": (
        "segment,period,alive\nsmb,0,100\nsmb,1,80\nsmb,2,85\n",
        "segment smb, row 4",
        "alive increases from 80 to 85 (period 1 to 2)",
    ),
    "segment too short": (GOOD + "enterprise,0,50\nenterprise,1,40\n", "segment enterprise",
                          "only 2 period(s)"),
    "segment gap": (GOOD + "enterprise,0,50\nenterprise,2,40\n", "segment enterprise, row 6",
                    "period 2 follows period 0: period 1 is missing"),
    "segment count not whole": (GOOD + "enterprise,0,50.2\n", "segment enterprise, row 5",
                                "got '50.2'"),
}




def assert_reported(exc: InputError, file: Path, key: str, expected: str) -> None:
    """The message names the file and the place (``key``), says ``expected``, on one line."""
    msg = str(exc)
    assert exc.file == str(file), msg
    assert msg.startswith(f"{file}: "), msg
    assert exc.key == key, msg
    if key:
        assert f": {key}: " in msg, msg
    assert expected in msg, f"{expected!r} not in {msg!r}"
    assert "\n" not in msg, msg


@pytest.mark.parametrize("case", BAD_TABLES)
def test_bad_table_is_reported_with_file_and_place(tmp_path, case):
    text, key, expected = BAD_TABLES[case]
    path = write_table(tmp_path, text, "my cohorts.csv")
    with pytest.raises(InputError) as info:
        read_cohorts(path)
    assert_reported(info.value, path, key, expected)


def test_unreadable_tables(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(InputError) as info:
        read_cohorts(missing)
    assert_reported(info.value, missing, "", "cannot read")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"period,alive\n0,\xff\xfe\n")
    with pytest.raises(InputError) as info:
        read_cohorts(binary)
    assert_reported(info.value, binary, "", "not UTF-8")


def test_tolerant_reading(tmp_path):
    """Case, spaces, a BOM, CRLF, blank lines, 12.0 and interleaved segments are fine."""
    text = "\ufeff Segment , PERIOD ,Alive\r\nb,0,50\r\na,0,100.0\r\n\r\na,1,80\r\nb,1,45\r\n"
    text += "a,2,70\r\nb,2, 41 \r\n"
    cohorts = read_cohorts(write_table(tmp_path, text))
    assert list(cohorts) == ["b", "a"]
    assert cohorts["a"].tolist() == [100, 80, 70] and cohorts["b"].tolist() == [50, 45, 41]
    single = read_cohorts(write_table(tmp_path, "period,alive\n0,10\n1,9\n2,9\n", "one.csv"))
    assert list(single) == ["all"]


def test_shipped_example_is_reproducible(tmp_path):
    path = write_cohorts(example_cohorts(), tmp_path / "regenerated.csv")
    assert path.read_bytes() == EXAMPLE.read_bytes()
