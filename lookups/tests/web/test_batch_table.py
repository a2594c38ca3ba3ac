import csv
import io

from lookups.errors import InvalidQuery
from lookups.web import batch_table
from lookups.web.api_body import LOOKUP_CSV


def test_the_download_is_one_row_per_row_shown_in_the_lookup_columns():
    rows = [
        batch_table.BatchRow(query=query, body=None, error=InvalidQuery("-not an address"))
        for query in ["=1+1", "+1", "@SUM(A1)", "-2", "ok"]
    ]
    header, *lines = csv.reader(io.StringIO(batch_table.batch_csv(rows)))
    assert tuple(header) == LOOKUP_CSV.columns
    assert [line[0] for line in lines] == ["'=1+1", "'+1", "'@SUM(A1)", "'-2", "ok"]
    assert {line[header.index("error_message")] for line in lines} == {"'-not an address"}
