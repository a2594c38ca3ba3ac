"""The API's JSON parser: DRF's, plus the two bodies that made it fail with a 500.

- Nesting deeper than Python's recursion limit (`[[[[...]]]]` fits easily in the body limit):
  json raises RecursionError, which DRF does not catch.
- Unpaired UTF-16 surrogates (`"\\ud800"`) are valid JSON escapes but not Unicode text: they
  cannot be stored in PostgreSQL nor encoded in the answer.
Both become the documented 400 `parse_error`.
"""

import json

from rest_framework import parsers
from rest_framework.exceptions import ParseError

TOO_DEEP_MESSAGE = "JSON parse error - the document is nested too deeply."
SURROGATE_MESSAGE = "JSON parse error - the document holds an unpaired surrogate (such as \\ud800), not text."


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP_MESSAGE) from None
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError(SURROGATE_MESSAGE) from None
        except RecursionError:
            raise ParseError(TOO_DEEP_MESSAGE) from None
        return data
