"""Discovery and keys: checked, cached, refetched on rotation at a limited rate, with timeouts."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import httpx
import pytest
from oidc_fake_provider import ISSUER, FakeProvider, ec_key, rsa_key

from adapters.idp.oidc.errors import InvalidIdToken, ProviderMisconfigured, ProviderUnavailable
from adapters.idp.oidc.provider import Provider


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def provider_for(op: FakeProvider, clock: Clock, *, cooldown: float = 60, max_age: float = 3600) -> Provider:
    http = httpx.Client(transport=httpx.MockTransport(op.handle))
    return Provider(ISSUER, http, timeout=2, metadata_max_age=max_age, jwks_max_age=max_age,
                    jwks_refetch_cooldown=cooldown, clock=clock)


def jwks_fetches(op: FakeProvider) -> int:
    return sum(1 for r in op.requests if r.url.path == "/jwks")


def test_the_discovery_document_is_fetched_once_and_cached() -> None:
    op, clock = FakeProvider(), Clock()
    provider = provider_for(op, clock)
    assert provider.metadata().token_endpoint == f"{ISSUER}/token"
    provider.metadata()
    assert len(op.requests) == 1
    clock.now += 3600
    provider.metadata()
    assert len(op.requests) == 2


def test_a_discovery_document_for_another_issuer_is_refused() -> None:
    op = FakeProvider()
    op.document["issuer"] = "https://evil.example"
    with pytest.raises(ProviderMisconfigured, match=re.escape("names the issuer 'https://evil.example'")):
        provider_for(op, Clock()).metadata()


def test_a_provider_without_pkce_s256_is_refused() -> None:
    op = FakeProvider()
    op.document["code_challenge_methods_supported"] = ["plain"]
    with pytest.raises(ProviderMisconfigured, match="PKCE with S256"):
        provider_for(op, Clock()).metadata()


def test_a_discovery_document_without_a_token_endpoint_is_refused() -> None:
    op = FakeProvider()
    del op.document["token_endpoint"]
    with pytest.raises(ProviderMisconfigured, match="no token_endpoint"):
        provider_for(op, Clock()).metadata()


def test_an_unknown_key_id_makes_the_key_set_be_fetched_again() -> None:
    op, clock = FakeProvider(), Clock()
    provider = provider_for(op, clock)
    assert provider.signing_key("k1", "RS256").kid == "k1"
    op.keys.append(rsa_key("k2"))
    assert provider.signing_key("k2", "RS256").kid == "k2"
    assert jwks_fetches(op) == 2
    provider.signing_key("k1", "RS256")
    assert jwks_fetches(op) == 2


def test_unknown_key_ids_refetch_at_most_once_per_cooldown() -> None:
    op, clock = FakeProvider(), Clock()
    provider = provider_for(op, clock, cooldown=60)
    provider.signing_key("k1", "RS256")
    for kid in ("made-up-1", "made-up-2", "made-up-3"):
        with pytest.raises(InvalidIdToken, match=f"key '{kid}'"):
            provider.signing_key(kid, "RS256")
    assert jwks_fetches(op) == 2
    op.keys.append(rsa_key("k2"))
    clock.now += 61
    assert provider.signing_key("k2", "RS256").kid == "k2"
    assert jwks_fetches(op) == 3


def test_the_key_set_is_refreshed_when_it_is_older_than_its_maximum_age() -> None:
    op, clock = FakeProvider(), Clock()
    provider = provider_for(op, clock, max_age=600)
    provider.signing_key("k1", "RS256")
    op.keys = [rsa_key("k3")]
    clock.now += 601
    with pytest.raises(InvalidIdToken):
        provider.signing_key("k1", "RS256")
    assert jwks_fetches(op) == 2


def test_a_key_is_only_used_with_an_algorithm_of_its_type() -> None:
    op = FakeProvider()
    op.keys = [ec_key("ec")]
    provider = provider_for(op, Clock())
    assert provider.signing_key("ec", "ES256").kid == "ec"
    with pytest.raises(InvalidIdToken):
        provider.signing_key("ec", "RS256")


def test_keys_for_encryption_or_of_unknown_types_are_skipped() -> None:
    op = FakeProvider()
    published = [{"kty": "RSA", "use": "enc", "kid": "enc", "n": "x", "e": "AQAB"},
                  {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"}, {"kty": "RSA", "kid": "broken"}, "junk"]

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [*published, op.keys[0].as_dict(private=False)]})
        return op.handle(request)

    http = httpx.Client(transport=httpx.MockTransport(handle))
    provider = Provider(ISSUER, http, timeout=2, metadata_max_age=60, jwks_max_age=60, jwks_refetch_cooldown=60)
    assert provider.signing_key("k1", "RS256").kid == "k1"
    with pytest.raises(InvalidIdToken):
        provider.signing_key("sym", "RS256")


@pytest.mark.parametrize(("answer", "error", "reason"), [
    (httpx.Response(503, text="down"), ProviderUnavailable, "HTTP 503"),
    (httpx.Response(200, text="<html>"), ProviderUnavailable, "something other than JSON"),
    (httpx.Response(404, json={"error": "nope"}), ProviderMisconfigured, "HTTP 404"),
])
def test_a_bad_answer_from_the_provider_is_a_login_error(answer: httpx.Response, error: type[Exception],
                                                           reason: str) -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda request: answer))
    provider = Provider(ISSUER, http, timeout=2, metadata_max_age=60, jwks_max_age=60, jwks_refetch_cooldown=60)
    with pytest.raises(error, match=reason):
        provider.metadata()


def test_an_unreachable_provider_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    provider = Provider(ISSUER, httpx.Client(transport=httpx.MockTransport(refuse)), timeout=2,
                        metadata_max_age=60, jwks_max_age=60, jwks_refetch_cooldown=60)
    with pytest.raises(ProviderUnavailable, match="could not be reached for the discovery request"):
        provider.metadata()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Listen on a port but never answer, like a provider that hangs."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_a_provider_that_does_not_answer_in_time_is_unavailable(silent_server: str) -> None:
    with httpx.Client() as http:
        provider = Provider(silent_server, http, timeout=0.2, metadata_max_age=60, jwks_max_age=60,
                            jwks_refetch_cooldown=60)
        with pytest.raises(ProviderUnavailable, match=re.escape("did not answer the discovery request within 0.2 s")):
            provider.metadata()
