"""The one CSV writer: fixed columns, and the guard against spreadsheet formulas on text cells only."""

import csv
import io
import re
from pathlib import Path

import pytest

from lookups.web import csv_format
from lookups.web.api_body import LOOKUP_CSV, LOOKUP_REVERSE_DNS_CSV, REVERSE_DNS_CSV_COLUMNS
from lookups.web.history_filters import HISTORY_CSV

HOSTILE = ['=HYPERLINK("http://evil","x")', "+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_that_a_spreadsheet_would_run_is_made_inert(text):
    assert csv_format.spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["ok", "81.2.69.142", "2001:db8::/32", "", -0.0931, -40, 0, 1.5, None])
def test_everything_else_is_written_as_it_is(value):
    assert csv_format.spreadsheet_safe(value) == value


def test_a_table_writes_its_columns_in_order_whatever_the_bodies_hold():
    table = csv_format.CsvTable(
        columns=("text", "number", "missing"), values=lambda body: {"text": body["t"], "number": body["n"]}
    )
    text = table.text([{"t": "=1+1", "n": -1.25}, {"t": "plain", "n": None}])
    assert text.splitlines(keepends=True)[0] == "text,number,missing\r\n"
    assert list(csv.reader(io.StringIO(text)))[1:] == [["'=1+1", "-1.25", ""], ["plain", "", ""]]
    assert "".join(table.lines([])) == "text,number,missing\r\n"


def test_docs_list_each_column_set_as_written():
    """docs/api.md is where a user reads the columns: the same names, in the same order."""
    docs = (Path(__file__).resolve().parents[3] / "docs" / "api.md").read_text()
    section = docs.split("\n## CSV\n", 1)[1].split("\n## ", 1)[0]
    lookup_part, history_part = section.split("**A history row**", 1)
    table = [line for line in lookup_part.splitlines() if line.startswith("| `")]
    # The table lists ?rdns=1's columns too, where they come; without it they are not written.
    assert tuple(name for line in table for name in re.findall(r"`([a-z0-9_]+)`", line.split(" | ")[0])) == (
        LOOKUP_REVERSE_DNS_CSV.columns
    )
    without = tuple(name for name in LOOKUP_REVERSE_DNS_CSV.columns if name not in REVERSE_DNS_CSV_COLUMNS)
    assert LOOKUP_CSV.columns == without
    history_names = re.findall(r"`([a-z0-9_]+)`", history_part.split(": the fields", 1)[0])
    assert tuple(history_names) == HISTORY_CSV.columns
