"""Our DRF renderers: JSON through orjson with DRF's exact bytes."""

import datetime as dt

import pytest
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer

from lookups.web import renderers


@pytest.mark.parametrize(
    "data",
    [
        {"results": [{"latitude": 51.5142, "longitude": -0.0931, "radius": 5, "ok": True, "none": None}]},
        {"small": [1e-05, 4.9e-05, 1e-07, 0.0001, 0.0], "large": [1e15, 1e16, 1.23e22, 2**63, 2**70]},
        {"text": "".join(chr(code) for code in range(0x300)) + "\u2028\u2029\ufeff\U0001f600 東京"},
        {"when": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC), "tuple": (1, 2), 3: "int key"},
        {"detail": ErrorDetail("a str subclass", code="x"), "query": "1e100.net"},
        {"ip_address": "2a02:ec80::1e5", "query": "0.0000 e-7", "latitude": -1.0e-5},
    ],
)
@pytest.mark.parametrize("media_type", ["application/json", "application/json; indent=4"])
def test_the_json_renderer_writes_what_drf_writes(data, media_type):
    expected = JSONRenderer().render(data, media_type)
    assert renderers.JSONRenderer().render(data, media_type) == expected
