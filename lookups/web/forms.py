"""The batch page's form: queries typed or pasted, and/or a CSV file, read into one list."""

import csv
import io
import re

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from lookups.errors import BATCH_TOO_LARGE_MESSAGE

BATCH_EMPTY_MESSAGE = "Enter at least one IP address or domain name, or choose a CSV file."
FILE_TOO_LARGE_MESSAGE = "The file is too large: at most {limit}."
FILE_NOT_TEXT_MESSAGE = "The file is not a UTF-8 text (CSV) file."
FILE_NOT_CSV_MESSAGE = "The file could not be read as CSV: {reason}."

# Queries never hold spaces, commas or semicolons, so any of them separates pasted queries.
_SEPARATORS = re.compile(r"[\s,;]+")
_CSV_DELIMITERS = ",;\t"


def queries_from_text(text: str) -> list[str]:
    return [part for part in _SEPARATORS.split(text) if part]


def queries_from_csv(text: str) -> list[str]:
    """The `query` column when the first row names one, else the first column of every row."""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:4096], delimiters=_CSV_DELIMITERS
        )
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    column = 0
    if rows:
        header = [cell.strip().lower() for cell in rows[0]]
        if "query" in header:
            column = header.index("query")
            rows = rows[1:]
    return [row[column].strip() for row in rows if len(row) > column and row[column].strip()]


class BatchForm(forms.Form):
    queries = forms.CharField(
        label="IP addresses and domain names",
        help_text="One per line (or separated by spaces or commas).",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off"}),
    )
    csv_file = forms.FileField(
        label="Or a CSV file",
        help_text="The column named “query”, or else the first column.",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )

    def __init__(self, *args, upload_too_large: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # Set when the upload handler stopped storing the file part-way (see views.batch).
        self.upload_too_large = upload_too_large

    def clean_csv_file(self):
        upload = self.cleaned_data.get("csv_file")
        limit = settings.LOOKUP_BATCH_UPLOAD_MAX_BYTES
        if self.upload_too_large or (upload and upload.size > limit):
            raise forms.ValidationError(
                FILE_TOO_LARGE_MESSAGE.format(limit=filesizeformat(limit)), code="file_too_large"
            )
        if not upload:
            return []
        try:
            text = upload.read(limit + 1).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(FILE_NOT_TEXT_MESSAGE, code="file_not_text") from None
        if "\x00" in text:
            raise forms.ValidationError(FILE_NOT_TEXT_MESSAGE, code="file_not_text")
        try:
            return queries_from_csv(text)
        except csv.Error as error:
            raise forms.ValidationError(
                FILE_NOT_CSV_MESSAGE.format(reason=error), code="file_not_csv"
            ) from None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        queries = queries_from_text(cleaned.get("queries") or "") + (cleaned.get("csv_file") or [])
        if not queries:
            raise forms.ValidationError(BATCH_EMPTY_MESSAGE, code="empty")
        limit = settings.LOOKUP_BATCH_MAX
        if len(queries) > limit:
            raise forms.ValidationError(
                BATCH_TOO_LARGE_MESSAGE.format(limit=limit, count=len(queries)), code="batch_too_large"
            )
        cleaned["query_list"] = queries
        return cleaned

    @property
    def too_large(self) -> bool:
        """Whether the errors are about size (413) rather than content (400)."""
        codes = {error.code for errors in self.errors.as_data().values() for error in errors}
        return bool(codes & {"file_too_large", "batch_too_large"})
