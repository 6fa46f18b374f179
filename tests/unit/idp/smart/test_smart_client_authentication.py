"""Client authentication at the token endpoint: Basic, public clients, and signed assertions."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from smart_fixtures import NOW, SECRET, TOKEN_ENDPOINT, assertion, backend_key, fresh_store, registry

from adapters.idp.smart import JWT_BEARER, OAuthError, s256
from adapters.idp.smart.oauth import authenticate_client, check_pkce

KEY = backend_key()
CLIENTS = registry(KEY)


def authenticate(form: dict[str, str], authorization: str | None = None, store=None) -> str:
    client = authenticate_client(form, authorization, clients=CLIENTS, token_endpoint=TOKEN_ENDPOINT,
                                 one_time=store or fresh_store(), now=NOW)
    return client.client_id


def refused(form: dict[str, str], authorization: str | None = None, store=None) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        authenticate(form, authorization, store)
    return caught.value


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def signed(**kwargs) -> dict[str, str]:
    return {"client_assertion_type": JWT_BEARER, "client_assertion": assertion(KEY, **kwargs)}


def test_authenticate__a_public_client_is_known_by_its_client_id() -> None:
    assert authenticate({"client_id": "public-app"}) == "public-app"


def test_authenticate__a_confidential_client_must_not_pass_as_public() -> None:
    error = refused({"client_id": "secret-app"})
    assert (error.error, error.status) == ("invalid_client", 401)
    assert error.description == "Client 'secret-app' must authenticate with client_secret_basic"


def test_authenticate__basic_credentials_with_the_right_secret_pass() -> None:
    assert authenticate({}, basic("secret-app", SECRET)) == "secret-app"


def test_authenticate__a_wrong_secret_is_invalid_client() -> None:
    assert refused({}, basic("secret-app", "guess")).description == "The client secret for 'secret-app' is wrong"


def test_authenticate__an_unknown_client_is_invalid_client() -> None:
    assert refused({"client_id": "nobody"}).description == "Client 'nobody' is not registered with this hub"


def test_authenticate__a_valid_assertion_passes_once_and_its_jti_cannot_be_replayed() -> None:
    store = fresh_store()
    form = signed(jti="once")
    assert authenticate(form, store=store) == "journal-vg"
    error = refused(form, store=store)
    assert error.description == "The client assertion's jti was already used; sign a new assertion per request"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"aud": "https://hub.example.se/fhir"}, "The client assertion's 'aud' is 'https://hub.example.se/fhir'; it "
                                             "must be the token endpoint 'https://hub.example.se/auth/token'"),
    ({"lifetime": timedelta(minutes=10)}, "The client assertion's 'exp' is more than five minutes ahead"),
    ({"lifetime": timedelta(minutes=-2)}, "The client assertion has expired"),
    ({"sub": "someone-else"}, "The client assertion's 'sub' must equal its 'iss', the client_id"),
    ({"client_id": "ghost"}, "Client 'ghost' is not registered with this hub"),
    ({"client_id": "public-app"}, "Client 'public-app' is registered for none, not private_key_jwt"),
])
def test_authenticate__an_assertion_breaking_the_backend_services_rules_is_refused(kwargs, message) -> None:
    assert refused(signed(**kwargs)).description == message


def test_authenticate__an_assertion_signed_by_an_unregistered_key_is_refused() -> None:
    stranger = backend_key(kid="vg-2025")
    form = {"client_assertion_type": JWT_BEARER, "client_assertion": assertion(stranger)}
    assert refused(form).description == "The client assertion's signature does not verify"
    other_kid = backend_key(kid="other")
    form = {"client_assertion_type": JWT_BEARER, "client_assertion": assertion(other_kid)}
    assert refused(form).description == "Key 'other' is not in the JWKS registered for client 'journal-vg'"


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_authenticate__an_hmac_or_unsigned_assertion_is_refused(alg: str) -> None:
    _, body, signature = assertion(KEY).split(".")
    header = base64.urlsafe_b64encode(f'{{"alg":"{alg}","kid":"vg-2025"}}'.encode()).rstrip(b"=").decode()
    form = {"client_assertion_type": JWT_BEARER, "client_assertion": f"{header}.{body}.{signature}"}
    assert refused(form).description == (f"The client assertion's algorithm {alg!r} is not accepted; use one of "
                                         "RS384, ES384, RS256, ES256, RS512, ES512")


def test_authenticate__two_methods_at_once_or_a_wrong_assertion_type_are_refused() -> None:
    assert refused(signed(), basic("secret-app", SECRET)).error == "invalid_request"
    form = {**signed(), "client_assertion_type": "urn:example:saml"}
    assert refused(form).description == f"client_assertion_type must be {JWT_BEARER}"


def test_authenticate__a_client_id_that_disagrees_with_the_credentials_is_refused() -> None:
    error = refused({"client_id": "public-app"}, basic("secret-app", SECRET))
    assert error.description == "client_id 'public-app' is not the client that authenticated ('secret-app')"


def test_check_pkce__accepts_the_verifier_and_refuses_any_other() -> None:
    verifier = "v" * 43
    check_pkce(verifier, s256(verifier))
    with pytest.raises(OAuthError, match="does not match the code_challenge"):
        check_pkce("w" * 43, s256(verifier))
    with pytest.raises(OAuthError, match="43 to 128 characters"):
        check_pkce("short", s256("short"))
    with pytest.raises(OAuthError, match="code_verifier is required"):
        check_pkce(None, s256(verifier))
