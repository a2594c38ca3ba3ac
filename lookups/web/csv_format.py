"""CSV as every export writes it: a fixed column set per kind of answer, and one guard that keeps
text from anyone (queries, names, messages) from running as a spreadsheet formula.

Each kind of answer defines its `CsvTable` once, beside the code that renders that answer:
`api_body.LOOKUP_CSV` (a lookup, single or batch, API or batch page) and
`history_filters.HISTORY_CSV` (a history row, history API or admin export). docs/api.md lists them.
"""

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# What a spreadsheet runs as a formula when a text cell starts with it (OWASP, "CSV Injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run gets a leading apostrophe, which makes it plain text.
    Only text: numbers (negative coordinates) are written as numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _Line:
    """A file-like object whose write() returns the line: csv.writer then writes one line at a time."""

    def write(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class CsvTable:
    """A fixed set of columns, and how one answer body fills them (a missing value is empty)."""

    columns: tuple[str, ...]
    values: Callable[[Mapping[str, Any]], Mapping[str, Any]]

    def record(self, body: Mapping[str, Any]) -> list[Any]:
        values = self.values(body)
        return [
            "" if values.get(column) is None else spreadsheet_safe(values[column]) for column in self.columns
        ]

    def lines(self, bodies: Iterable[Mapping[str, Any]]) -> Iterator[str]:
        """The header, then one line per body, lazily (the admin streams a million rows)."""
        writer = csv.writer(_Line(), lineterminator="\r\n")
        yield writer.writerow(self.columns)
        for body in bodies:
            yield writer.writerow(self.record(body))

    def text(self, bodies: Iterable[Mapping[str, Any]]) -> str:
        return "".join(self.lines(bodies))
