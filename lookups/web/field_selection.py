"""`?fields=country.iso_code,city.name,location`: a lookup's body trimmed to the paths asked for,
its structure kept, and its CSV trimmed to the columns those paths fill, in the fixed order.

The paths are the body's own (lookups.web.api_body.LOOKUP_FIELD_COLUMNS and their parents). An
error's body is never trimmed: a failed batch entry keeps its query and its error.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lookups.errors import UNKNOWN_FIELDS_MESSAGE, UnknownFields
from lookups.web.api_body import (
    LOOKUP_CSV,
    LOOKUP_FIELD_COLUMNS,
    LOOKUP_REVERSE_DNS_CSV,
    NETWORK_CSV,
    REVERSE_DNS_FIELD_COLUMNS,
)
from lookups.web.csv_format import CsvTable


def _with_parents(leaves: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Every selectable path and its CSV columns: the leaves, and each parent with its leaves'."""
    columns: dict[str, tuple[str, ...]] = {}
    for leaf, leaf_columns in leaves:
        parts = leaf.split(".")
        for depth in range(1, len(parts) + 1):
            path = ".".join(parts[:depth])
            columns[path] = (*columns.get(path, ()), *leaf_columns)
    return columns


FIELD_COLUMNS = _with_parents(LOOKUP_FIELD_COLUMNS.items())
FIELD_PATHS = tuple(FIELD_COLUMNS)  # in the body's order, for messages and the schema


@dataclass(frozen=True)
class FieldSet:
    """The paths a kind of answer has, the CSV columns each fills, and its full CSV table."""

    columns: dict[str, tuple[str, ...]]
    table: CsvTable

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(self.columns)


LOOKUP_FIELDS = FieldSet(columns=FIELD_COLUMNS, table=LOOKUP_CSV)
# A single lookup asked with ?rdns=1: its paths and reverse_dns's (only there: a batch takes no rdns).
REVERSE_DNS_FIELDS = FieldSet(
    columns={**FIELD_COLUMNS, **_with_parents(REVERSE_DNS_FIELD_COLUMNS.items())},
    table=LOOKUP_REVERSE_DNS_CSV,
)
REVERSE_DNS_FIELD_PATHS = tuple(path for path in REVERSE_DNS_FIELDS.paths if path not in FIELD_COLUMNS)
# A network of a listing: a lookup's body without the query's keys (and never an error).
NETWORK_FIELDS = FieldSet(
    columns={
        path: columns
        for path, columns in FIELD_COLUMNS.items()
        if path not in ("query", "name", "ip_address", "addresses", "error")
    },
    table=NETWORK_CSV,
)
NETWORK_FIELD_PATHS = NETWORK_FIELDS.paths

# A tree of the paths asked for: {"country": {"iso_code": WHOLE}, "location": WHOLE}.
WHOLE = None
Tree = dict[str, Any]


@dataclass(frozen=True)
class FieldSelection:
    paths: tuple[str, ...]
    tree: Tree
    csv_table: CsvTable


def parse_fields(values: list[str], fields: FieldSet = LOOKUP_FIELDS) -> FieldSelection | None:
    """The selection `?fields=` asks for (each value a comma-separated list; repeats add up), or
    None when there is no `fields` parameter. Raises UnknownFields."""
    if not values:
        return None
    paths = [part.strip() for value in values for part in value.split(",")]
    unknown = [path for path in paths if path not in fields.columns]
    if unknown:
        given = ", ".join(repr(path) for path in unknown)
        raise UnknownFields(UNKNOWN_FIELDS_MESSAGE.format(given=given, fields=", ".join(fields.paths)))
    tree: Tree = {}
    for path in sorted(set(paths), key=lambda path: path.count(".")):  # a parent first covers its leaves
        node, parts = tree, path.split(".")
        for part in parts[:-1]:
            if node.get(part, {}) is WHOLE:
                break
            node = node.setdefault(part, {})
        else:
            node[parts[-1]] = WHOLE
    wanted = {column for path in paths for column in fields.columns[path]}
    table = CsvTable(
        columns=tuple(column for column in fields.table.columns if column in wanted),
        values=fields.table.values,
    )
    return FieldSelection(paths=tuple(dict.fromkeys(paths)), tree=tree, csv_table=table)


def select(body: dict[str, Any], selection: FieldSelection | None) -> dict[str, Any]:
    """`body` with only the selected paths (in the body's own order); an error's body as it is."""
    if selection is None or "error" in body:
        return body
    return _pick(body, selection.tree)


def _pick(value: Any, tree: Tree | None) -> Any:
    if tree is WHOLE or value is None:
        return value
    if isinstance(value, list):
        return [_pick(item, tree) for item in value]
    return {key: _pick(item, tree[key]) for key, item in value.items() if key in tree}
