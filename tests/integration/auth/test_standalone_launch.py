"""Standalone launch: a citizen's app logs in through /authorize with PKCE and gets its tokens."""

from __future__ import annotations

import json

from joserfc import jwt
from joserfc.jwk import KeySet

from cases.principals import Citizen, Guardian

from .conftest import (
    APP_CB,
    DORIS,
    EHR_APP_CB,
    FHIR_BASE,
    HUB,
    TOLVAN,
    Hub,
    authorize_params,
    log_in,
    pkce,
    query_of,
    token,
)

SCOPE = "openid fhirUser launch/patient patient/*.rs offline_access"


def code_for(hub: Hub, principal=TOLVAN, scope: str = SCOPE, **extra: str) -> tuple[str, str, dict[str, str]]:
    verifier, challenge = pkce()
    params = authorize_params(scope=scope, challenge=challenge, **extra)
    back = log_in(hub, params, principal)
    assert back["state"] == params["state"] and back["iss"] == HUB, back
    return back["code"], verifier, params


def redeem(hub: Hub, code: str, verifier: str, **extra: str):
    return token(hub, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                       "redirect_uri": APP_CB, "client_id": "triage-app", **extra})


def test_standalone_launch__a_citizen_gets_tokens_for_their_own_patient(hub: Hub) -> None:
    code, verifier, _ = code_for(hub, nonce="n-123")
    response = redeem(hub, code, verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["patient"] == "tolvan" and body["fhirUser"] == "Patient/tolvan"
    assert body["need_patient_banner"] is True and "encounter" not in body
    assert body["scope"] == "fhirUser launch/patient offline_access openid patient/*.rs"
    assert body["refresh_token"]
    ctx = hub.services.tokens.verify_access_token(body["access_token"], now=hub.clock.now)
    assert ctx.principal == TOLVAN and ctx.patient == "tolvan" and ctx.client_id == "triage-app"
    assert ctx.scopes.allows("Observation", "r", "patient") and not ctx.scopes.allows("Observation", "u", "patient")
    keys = KeySet.import_key_set(hub.client.get("/auth/jwks").json())
    id_token = jwt.decode(body["id_token"], keys, algorithms=["ES256"]).claims
    assert id_token["iss"] == HUB and id_token["aud"] == "triage-app" and id_token["nonce"] == "n-123"
    assert id_token["fhirUser"] == "Patient/tolvan" and TOLVAN.person_id not in json.dumps(id_token)


def test_standalone_launch__a_wrong_code_verifier_is_rejected_and_burns_the_code(hub: Hub) -> None:
    code, verifier, _ = code_for(hub)
    wrong = redeem(hub, code, pkce()[0])
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant",
                            "error_description": "code_verifier does not match the code_challenge of the authorization"}
    again = redeem(hub, code, verifier)
    assert again.json()["error_description"] == "The authorization code is unknown, expired or already used"


def test_standalone_launch__a_code_is_redeemed_once_within_a_minute(hub: Hub) -> None:
    code, verifier, _ = code_for(hub)
    assert redeem(hub, code, verifier).status_code == 200
    assert redeem(hub, code, verifier).json()["error"] == "invalid_grant"
    late, late_verifier, _ = code_for(hub)
    hub.clock.advance(seconds=61)
    assert redeem(hub, late, late_verifier).json()["error"] == "invalid_grant"


def test_standalone_launch__the_redirect_uri_must_match_at_the_token_endpoint(hub: Hub) -> None:
    code, verifier, _ = code_for(hub)
    response = redeem(hub, code, verifier, redirect_uri="https://app.example/other")
    assert response.json()["error_description"] == "redirect_uri must be the one the authorization request used"


def test_standalone_launch__a_guardian_gets_the_childs_patient(hub: Hub) -> None:
    code, verifier, _ = code_for(hub, principal=Guardian(TOLVAN, "201712122389"))
    body = redeem(hub, code, verifier).json()
    assert body["patient"] == "lilla-tolvan"
    assert isinstance(hub.services.tokens.verify_access_token(body["access_token"], now=hub.clock.now).principal,
                      Guardian)


def test_authorize__an_unregistered_redirect_uri_is_shown_not_redirected_to(hub: Hub) -> None:
    response = hub.client.get("/auth/authorize", params=authorize_params(redirect_uri="https://evil.example/cb"))
    assert response.status_code == 400 and "location" not in response.headers
    assert "is not registered for client" in response.text


def test_authorize__an_unknown_client_is_shown_not_redirected_to(hub: Hub) -> None:
    response = hub.client.get("/auth/authorize", params=authorize_params(client_id="nobody"))
    assert response.status_code == 400 and "Client &#x27;nobody&#x27; is not registered" in response.text


def test_authorize__errors_after_the_redirect_uri_is_trusted_go_back_to_the_app(hub: Hub) -> None:
    cases = {
        "code_challenge": ("-", "invalid_request", "PKCE is required: send code_challenge with "
                                                   "code_challenge_method=S256"),
        "code_challenge_method": ("plain", "invalid_request", "PKCE is required: send code_challenge with "
                                                              "code_challenge_method=S256"),
        "aud": ("https://other.example/fhir", "invalid_request",
                f"aud must be this hub's FHIR base URL {FHIR_BASE!r}"),
        "response_type": ("token", "unsupported_response_type", "response_type must be 'code'"),
        "scope": ("system/*.rs", "invalid_scope", "None of the requested scopes may be granted to client 'triage-app'"),
    }
    for name, (value, error, description) in cases.items():
        params = authorize_params(**{name: value})
        response = hub.client.get("/auth/authorize", params=params)
        assert response.status_code == 302, name
        back = query_of(response.headers["location"])
        assert (back["error"], back["error_description"], back["state"]) == (error, description, params["state"])


def test_authorize__a_parameter_sent_twice_is_refused(hub: Hub) -> None:
    params = [*authorize_params().items(), ("scope", "patient/*.cruds")]
    response = hub.client.get("/auth/authorize", params=params)
    assert response.status_code == 400 and "was sent more than once" in response.text


def test_callback__without_the_login_cookie_is_refused(hub: Hub) -> None:
    hub.client.get("/auth/authorize", params=authorize_params())
    hub.client.cookies.clear()
    response = hub.client.get("/auth/callback", params={"principal": '{"kind":"citizen","person_id":"1"}'})
    assert response.status_code == 400 and "This login is unknown or took too long" in response.text


def test_callback__a_clinician_cannot_log_in_to_a_citizen_app(hub: Hub) -> None:
    params = authorize_params()
    back = log_in(hub, params, DORIS)
    assert back["error"] == "access_denied"
    assert back["error_description"] == "Logged in as a clinician, but this app needs a citizen"


def test_callback__a_citizen_without_a_patient_record_is_told_so(hub: Hub) -> None:
    back = log_in(hub, authorize_params(), Citizen("199001012380"))
    assert (back["error"], back["error_description"]) == (
        "access_denied", "No patient record was found for the person who logged in")


def test_authorize__works_by_post_too(hub: Hub) -> None:
    response = hub.client.post("/auth/authorize", data=authorize_params())
    assert response.status_code == 303 and "/auth/dev/login?" in response.headers["location"]


def test_authorize__a_standalone_launch_is_not_granted_the_bare_launch_scope(hub: Hub) -> None:
    code, verifier, _ = code_for(hub, scope="launch launch/patient patient/*.rs")
    assert redeem(hub, code, verifier).json()["scope"] == "launch/patient patient/*.rs"


def test_callback__a_clinicians_standalone_launch_cannot_pick_a_patient(hub: Hub) -> None:
    params = authorize_params(client_id="journalvy", redirect_uri=EHR_APP_CB, scope="launch/patient user/*.rs")
    back = log_in(hub, params, DORIS)
    assert (back["error"], back["error_description"]) == (
        "access_denied", "A clinician's standalone launch cannot choose a patient here; launch the app from the EHR")


def test_token__a_confidential_client_with_a_wrong_secret_gets_a_basic_challenge(hub: Hub) -> None:
    response = token(hub, {"grant_type": "authorization_code", "code": "x", "code_verifier": "v" * 43,
                           "redirect_uri": EHR_APP_CB}, auth=("journalvy", "wrong"))
    assert response.status_code == 401 and response.headers["www-authenticate"] == 'Basic realm="ingang"'
    assert response.json() == {"error": "invalid_client",
                               "error_description": "The client secret for 'journalvy' is wrong"}


def test_token__a_huge_body_is_refused_before_it_is_buffered(hub: Hub) -> None:
    response = hub.client.post("/auth/token", content=b"grant_type=" + b"a" * 70_000,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.json() == {"error": "invalid_request", "error_description": "the body is over 65536 bytes"}


def test_dev_login__shows_a_form_and_forwards_a_given_principal_to_the_callback(hub: Hub) -> None:
    page = hub.client.get("/auth/dev/login", params={"purpose": "clinician"})
    assert page.status_code == 200 and "employee_hsa_id" in page.text and 'action=\'/auth/callback\'' in page.text
    forward = hub.client.get("/auth/dev/login", params={"principal": '{"kind":"citizen","person_id":"1"}'})
    assert forward.status_code == 302 and forward.headers["location"].startswith("/auth/callback?principal=")
