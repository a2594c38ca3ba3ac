from lookups.web import batch_table


def test_csv_text_cells_cannot_become_formulas():
    rows = [
        batch_table.BatchRow(query=query, body=None, error=None)
        for query in ["=1+1", "+1", "@SUM(A1)", "-2", "ok"]
    ]
    lines = batch_table.batch_csv(rows).splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["'=1+1", "'+1", "'@SUM(A1)", "'-2", "ok"]
