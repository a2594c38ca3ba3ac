"""A batch's answers as the batch page's table and as its CSV download: one row per query."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lookups.core.answer import LookupResult
from lookups.errors import LookupFailed
from lookups.web.api_body import LOOKUP_CSV, error_as_dict, result_as_dict
from lookups.web.page_context import flag_emoji


@dataclass(frozen=True)
class BatchRow:
    query: str
    body: dict[str, Any] | None  # the API body of a result
    error: LookupFailed | None

    @property
    def flag(self) -> str:
        return flag_emoji(((self.body or {}).get("country") or {}).get("iso_code"))


def batch_rows(
    queries: Sequence[str], answers: Sequence[LookupResult | LookupFailed], *, language: str
) -> list[BatchRow]:
    rows = []
    for query, answer in zip(queries, answers, strict=True):
        if isinstance(answer, LookupFailed):
            rows.append(BatchRow(query=query, body=None, error=answer))
        else:
            rows.append(BatchRow(query=query, body=result_as_dict(answer, language=language), error=None))
    return rows


def batch_csv(rows: Iterable[BatchRow]) -> str:
    """The download: the API's lookup columns (api_body.LOOKUP_CSV), one row per row shown."""
    return LOOKUP_CSV.text(
        row.body if row.error is None else {"query": row.query, **error_as_dict(row.error)} for row in rows
    )
