"""CSV output for the API: one row per result, nested fields flattened (country.iso_code)."""

from typing import Any

from rest_framework_csv.renderers import CSVRenderer


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    if isinstance(data, list):
        if all(not isinstance(item, dict | list) for item in data):
            return {prefix[:-1]: " ".join("" if item is None else str(item) for item in data)}
        flat = {}
        for index, item in enumerate(data):
            flat.update(flatten(item, f"{prefix}{index}."))
        return flat
    return {prefix[:-1]: data}


class FlatCSVRenderer(CSVRenderer):
    format = "csv"

    def render(self, data, media_type=None, renderer_context=None, writer_opts=None):
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            rows = [flatten(item) for item in data["results"]]
        elif isinstance(data, list):
            rows = [flatten(item) for item in data]
        else:
            rows = [flatten(data)]
        header: list[str] = []
        for row in rows:
            header.extend(key for key in row if key not in header)
        renderer_context = {**(renderer_context or {}), "header": header}
        return super().render(rows, media_type, renderer_context, writer_opts)
