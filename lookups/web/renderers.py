"""The API's renderers: CSV in one fixed column set per kind of answer; XML that carries any query;
JSON through orjson where it writes the same bytes as DRF."""

import re
from typing import Any

import orjson
from rest_framework import renderers
from rest_framework_xml import renderers as xml_renderers

from lookups.web.csv_format import CsvTable


def _error_csv_values(body: dict[str, Any]) -> dict[str, Any]:
    return {"error_code": body["error"].get("code"), "error_message": body["error"].get("message")}


# An endpoint whose rows have no error columns (the history) answers a refusal in these.
ERROR_CSV = CsvTable(columns=("error_code", "error_message"), values=_error_csv_values)


class CSVRenderer(renderers.BaseRenderer):
    """CSV in the view's one column set (its `csv_table`, or the plain views' `csv_table` in the
    renderer context): one row per result, the same columns whatever the data (lookups.web.csv_format)."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        context = renderer_context or {}
        table = context.get("csv_table") or getattr(context.get("view"), "csv_table", None)
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            if table is None or "error_code" not in table.columns:
                table = ERROR_CSV
            bodies = [{"query": context.get("query"), **data}]
        elif table is None:
            raise TypeError(f"{type(context.get('view')).__name__} has no csv_table to write CSV with")
        elif isinstance(data, dict) and isinstance(data.get(context.get("csv_rows", "results")), list):
            bodies = data[context.get("csv_rows", "results")]  # a batch's results, a listing's networks
        else:
            bodies = [data]
        return table.text(bodies).encode(self.charset)


# Characters XML 1.0 cannot carry at all (not even escaped): C0 controls but tab, LF and CR,
# and the non-characters U+FFFE/U+FFFF. A query may hold them; the XML answer shows U+FFFD.
_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(data: Any) -> Any:
    if isinstance(data, str):
        return _NOT_IN_XML.sub("\ufffd", data)
    if isinstance(data, dict):
        return {_xml_safe(key): _xml_safe(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_xml_safe(item) for item in data]
    return data


class XMLRenderer(xml_renderers.XMLRenderer):
    """DRF's XML renderer, minus the 500 it answered for a query holding a control character."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return super().render(_xml_safe(data), accepted_media_type, renderer_context)


# The only numbers orjson spells differently from json: 1e-5 <= |x| < 1e-4 (0.00001 for 1e-05)
# and one-digit negative exponents (1e-7 for 1e-07). An answer holding such text is written by
# json; text that merely looks alike costs only the faster path. (Not "[0-9]e[0-9]": IPv6
# addresses are full of it.)
# Two searches, not one alternation: each starts with a literal that re finds fast (the
# alternation tried both at every byte, 4 ms for a batch answer of 1,000 results).
_SMALL_NUMBER = re.compile(rb"0\.0000")
_ONE_DIGIT_EXPONENT = re.compile(rb"e-[0-9](?![0-9])")
_PASSTHROUGH = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is left to json")


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer, byte for byte, through orjson when that writes the same bytes: compact,
    non-ASCII as is, plain JSON types only (datetimes and str subclasses are DRF's encoder's), no
    number whose text differs. A batch of 1,000 results costs a twentieth of the CPU."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if (
            data is None
            or self.ensure_ascii
            or not self.compact
            or self.get_indent(accepted_media_type, renderer_context or {})
        ):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            ret = orjson.dumps(data, default=_refuse, option=_PASSTHROUGH)
        except TypeError:  # orjson.JSONEncodeError too
            return super().render(data, accepted_media_type, renderer_context)
        if _SMALL_NUMBER.search(ret) or _ONE_DIGIT_EXPONENT.search(ret):
            return super().render(data, accepted_media_type, renderer_context)
        # As DRF: U+2028 and U+2029 escaped, for JavaScript that evaluates JSON.
        return ret.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
