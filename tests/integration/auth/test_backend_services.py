"""SMART Backend Services: a regional system gets a short token with a signed assertion, once per jti."""

from __future__ import annotations

from datetime import timedelta

from joserfc.jwk import ECKey

from cases.principals import RegionalSystem

from .conftest import FHIR_BASE, Hub, client_assertion, token


def credentials(hub: Hub, scope: str = "system/*.cruds", **assertion: object):
    form = {"grant_type": "client_credentials", "scope": scope,
            **client_assertion(hub.backend_key, now=hub.clock.now, **assertion)}  # type: ignore[arg-type]
    return token(hub, form)


def test_client_credentials__a_signed_assertion_gets_a_regional_system_token(hub: Hub) -> None:
    response = credentials(hub)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["scope"] == "system/*.rs" and "refresh_token" not in body
    ctx = hub.services.tokens.verify_access_token(body["access_token"], now=hub.clock.now)
    assert ctx.principal == RegionalSystem("journal-vg", "VG", scopes=("system/*.rs",))
    assert ctx.scopes.allows("Encounter", "s", "system") and not ctx.scopes.allows("Encounter", "u", "system")


def test_client_credentials__grants_only_registered_system_scopes(hub: Hub) -> None:
    body = credentials(hub, scope="system/Task.cu system/Encounter.rs user/*.rs patient/*.rs").json()
    assert body["scope"] == "system/Task.cu system/Encounter.rs"
    refused = credentials(hub, scope="user/*.rs")
    assert refused.json()["error"] == "invalid_scope"


def test_client_credentials__a_replayed_jti_is_rejected(hub: Hub) -> None:
    assert credentials(hub, jti="same").status_code == 200
    replay = credentials(hub, jti="same")
    assert replay.status_code == 401
    assert replay.json() == {"error": "invalid_client", "error_description": (
        "The client assertion's jti was already used; sign a new assertion per request")}


def test_client_credentials__an_assertion_for_another_audience_is_rejected(hub: Hub) -> None:
    response = credentials(hub, aud=FHIR_BASE)
    assert response.status_code == 401
    assert response.json()["error_description"] == (
        f"The client assertion's 'aud' is {FHIR_BASE!r}; it must be the token endpoint "
        "'https://hub.example.se/auth/token'")


def test_client_credentials__an_unknown_client_is_rejected(hub: Hub) -> None:
    stranger = ECKey.generate_key("P-384", private=True, parameters={"kid": "x"})
    form = {"grant_type": "client_credentials", "scope": "system/*.rs",
            **client_assertion(stranger, client_id="journal-xx", now=hub.clock.now)}
    response = token(hub, form)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client",
                               "error_description": "Client 'journal-xx' is not registered with this hub"}


def test_client_credentials__an_assertion_living_longer_than_five_minutes_is_rejected(hub: Hub) -> None:
    response = credentials(hub, lifetime=timedelta(minutes=30))
    assert response.json()["error_description"] == "The client assertion's 'exp' is more than five minutes ahead"


def test_client_credentials__a_public_app_may_not_use_the_grant(hub: Hub) -> None:
    response = token(hub, {"grant_type": "client_credentials", "scope": "system/*.rs", "client_id": "triage-app"})
    assert response.json() == {"error": "unauthorized_client",
                               "error_description": "Client 'triage-app' may not use the client_credentials grant"}


def test_token__refuses_unknown_grants_duplicates_and_the_wrong_body_type(hub: Hub) -> None:
    assert token(hub, {"grant_type": "password"}).json()["error"] == "unsupported_grant_type"
    assert token(hub, {"scope": "x"}).json() == {"error": "invalid_request", "error_description": "grant_type is required"}
    duplicate = hub.client.post("/auth/token", content="grant_type=a&grant_type=b",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert duplicate.json()["error_description"] == "parameter 'grant_type' was sent more than once"
    as_json = hub.client.post("/auth/token", json={"grant_type": "client_credentials"})
    assert as_json.json()["error_description"] == "the body must be application/x-www-form-urlencoded"
