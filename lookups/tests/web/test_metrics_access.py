"""Who may read /metrics: loopback and METRICS_ALLOWED networks, or the bearer token."""

from http import HTTPStatus

import pytest

from lookups.web.metrics_access import (
    METRICS_BEARER_INVALID_MESSAGE,
    METRICS_BEARER_REQUIRED_MESSAGE,
    METRICS_FORBIDDEN_MESSAGE,
    metrics_refusal,
)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_always_allowed(settings, address):
    settings.METRICS_ALLOWED, settings.METRICS_TOKEN = [], ""
    assert metrics_refusal(address=address, authorization="") is None


@pytest.mark.parametrize("address", ["10.1.2.3", "fd00::7"])
def test_metrics_allowed_networks_are_allowed(settings, address):
    settings.METRICS_ALLOWED, settings.METRICS_TOKEN = ["10.0.0.0/8", "fd00::/8"], ""
    assert metrics_refusal(address=address, authorization="") is None


@pytest.mark.parametrize("address", ["192.0.2.7", "11.0.0.1", "2001:db8::1", None, "not an address"])
def test_other_addresses_are_forbidden_without_a_token_configured(settings, address):
    settings.METRICS_ALLOWED, settings.METRICS_TOKEN = ["10.0.0.0/8"], ""
    refusal = metrics_refusal(address=address, authorization="Bearer anything")
    assert refusal.status == HTTPStatus.FORBIDDEN
    assert refusal.message == METRICS_FORBIDDEN_MESSAGE.format(address=address)
    assert not refusal.challenge


def test_the_token_lets_any_address_in(settings):
    settings.METRICS_ALLOWED, settings.METRICS_TOKEN = [], "s3cret-token"
    assert metrics_refusal(address="192.0.2.7", authorization="Bearer s3cret-token") is None
    assert metrics_refusal(address="192.0.2.7", authorization="bearer  s3cret-token ") is None


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ("", METRICS_BEARER_REQUIRED_MESSAGE.format(address="192.0.2.7")),
        ("Basic czNjcmV0LXRva2Vu", METRICS_BEARER_REQUIRED_MESSAGE.format(address="192.0.2.7")),
        ("Bearer", METRICS_BEARER_REQUIRED_MESSAGE.format(address="192.0.2.7")),
        ("Bearer wrong", METRICS_BEARER_INVALID_MESSAGE),
        ("Bearer s3cret-token-and-more", METRICS_BEARER_INVALID_MESSAGE),
    ],
)
def test_a_missing_or_wrong_token_is_unauthorized(settings, authorization, message):
    settings.METRICS_ALLOWED, settings.METRICS_TOKEN = [], "s3cret-token"
    refusal = metrics_refusal(address="192.0.2.7", authorization=authorization)
    assert refusal.status == HTTPStatus.UNAUTHORIZED
    assert refusal.message == message
    assert refusal.challenge
