"""The API's body for a comparison of the two City databases (GET /api/v1/compare/<query>) and
the agreement figures of a batch compared (POST /api/v1/lookup/batch?compare=1).

Each database's answer is a lookup's own body (lookups.web.api_body), or the error that database
gave; lookups.web.api_schema documents the shape.
"""

from dataclasses import asdict
from typing import Any

from lookups.core.comparison import BatchAgreement, Comparison, agreement
from lookups.core.geoip import DatabaseInfo, attribution_for
from lookups.errors import LookupFailed
from lookups.web.api_body import error_as_dict, result_as_dict


def _answer(answer, language: str) -> dict[str, Any]:
    return (
        error_as_dict(answer)
        if isinstance(answer, LookupFailed)
        else result_as_dict(answer, language=language)
    )


def comparison_as_dict(query: str, comparison: Comparison, *, language: str) -> dict[str, Any]:
    return {
        "query": query.strip(),
        "primary": _answer(comparison.primary, language),
        "alternative": _answer(comparison.alternative, language),
        "agreement": asdict(agreement(comparison)),
    }


def batch_agreement_as_dict(figures: BatchAgreement, alternative: DatabaseInfo | None) -> dict[str, Any]:
    """`alternative`: the alternative database that answered (None when it answered no entry)."""
    database = None
    if alternative is not None:
        database = {
            "edition": alternative.edition,
            "build_date": alternative.build_date.isoformat(),
            "attribution": attribution_for(alternative.edition),
        }
    return {**asdict(figures), "alternative_database": database}
