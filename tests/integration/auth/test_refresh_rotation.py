"""Refresh tokens: rotated on every use; a spent token presented again revokes the whole login."""

from __future__ import annotations

from typing import Any

from .conftest import APP_CB, TOLVAN, Hub, authorize_params, log_in, pkce, token

SCOPE = "openid launch/patient patient/*.rs offline_access"


def logged_in(hub: Hub, scope: str = SCOPE) -> dict[str, Any]:
    verifier, challenge = pkce()
    back = log_in(hub, authorize_params(scope=scope, challenge=challenge), TOLVAN)
    response = token(hub, {"grant_type": "authorization_code", "code": back["code"], "code_verifier": verifier,
                           "redirect_uri": APP_CB, "client_id": "triage-app"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh(hub: Hub, refresh_token: str, client_id: str = "triage-app", **extra: str):
    return token(hub, {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, **extra})


def test_refresh__gives_a_new_access_token_and_a_new_refresh_token(hub: Hub) -> None:
    first = logged_in(hub)
    hub.clock.advance(minutes=9)
    response = refresh(hub, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["patient"] == "tolvan" and second["scope"] == first["scope"]
    ctx = hub.services.tokens.verify_access_token(second["access_token"], now=hub.clock.now)
    assert ctx.principal == TOLVAN and ctx.patient == "tolvan"
    assert refresh(hub, second["refresh_token"]).status_code == 200


def test_refresh__reusing_a_spent_token_revokes_the_family(hub: Hub) -> None:
    first = logged_in(hub)
    second = refresh(hub, first["refresh_token"]).json()
    reuse = refresh(hub, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json() == {"error": "invalid_grant", "error_description": (
        "The refresh token was already used; every token of this login is now revoked, since someone else may "
        "hold one")}
    latest = refresh(hub, second["refresh_token"])
    assert latest.json() == {"error": "invalid_grant", "error_description": "The refresh token was revoked"}


def test_refresh__another_login_is_not_affected_by_a_reuse(hub: Hub) -> None:
    mine, theirs = logged_in(hub), logged_in(hub)
    refresh(hub, mine["refresh_token"])
    refresh(hub, mine["refresh_token"])
    assert refresh(hub, theirs["refresh_token"]).status_code == 200


def test_refresh__may_narrow_but_not_widen_the_scopes(hub: Hub) -> None:
    first = logged_in(hub)
    narrowed = refresh(hub, first["refresh_token"], scope="patient/Observation.r").json()
    assert narrowed["scope"] == "patient/Observation.r"
    widened = refresh(hub, narrowed["refresh_token"], scope="patient/*.cruds")
    assert widened.json() == {"error": "invalid_scope",
                              "error_description": "A refresh may only narrow the scopes of the original grant"}


def test_refresh__a_token_presented_by_another_client_is_refused_and_spent(hub: Hub) -> None:
    first = logged_in(hub)
    stolen = token(hub, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                   auth=("journalvy", "s3cret-journalvy"))
    assert stolen.json()["error_description"] == "The refresh token was issued to another client"
    assert refresh(hub, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh__no_refresh_token_without_offline_access(hub: Hub) -> None:
    assert "refresh_token" not in logged_in(hub, scope="launch/patient patient/*.rs")


def test_refresh__the_login_ends_at_the_familys_absolute_expiry(hub: Hub) -> None:
    first = logged_in(hub)
    hub.clock.advance(hours=11)
    second = refresh(hub, first["refresh_token"]).json()
    hub.clock.advance(hours=1)
    assert refresh(hub, second["refresh_token"]).json()["error_description"] == (
        "The refresh token has expired; log in again")


def test_refresh__an_unknown_token_is_invalid_grant(hub: Hub) -> None:
    assert refresh(hub, "made-up").json() == {"error": "invalid_grant",
                                              "error_description": "The refresh token is not known to this hub"}
