"""EHR launch: the EHR binds a patient and encounter to a launch id, the app gets them in its token."""

from __future__ import annotations

from datetime import timedelta

from adapters.idp.tokens import Scopes
from cases.principals import Clinician

from .conftest import (
    DORIS,
    EHR_APP_CB,
    SVEN,
    TOLVAN,
    Hub,
    authorize_params,
    log_in,
    pkce,
    system_token,
    token,
)

EHR_SCOPE = "launch openid fhirUser user/*.rs patient/*.rs"


def create_launch(hub: Hub, access_token: str, **body: str):
    return hub.client.post("/auth/launch", json=body, headers={"Authorization": f"Bearer {access_token}"})


def launch_app(hub: Hub, launch: str, principal: Clinician = DORIS, scope: str = EHR_SCOPE) -> dict[str, str]:
    verifier, challenge = pkce()
    params = authorize_params(client_id="journalvy", redirect_uri=EHR_APP_CB, scope=scope, challenge=challenge,
                              launch=launch)
    back = log_in(hub, params, principal)
    back["verifier"] = verifier
    return back


def redeem(hub: Hub, back: dict[str, str]):
    return token(hub, {"grant_type": "authorization_code", "code": back["code"], "code_verifier": back["verifier"],
                       "redirect_uri": EHR_APP_CB}, auth=("journalvy", "s3cret-journalvy"))


def test_ehr_launch__the_token_response_carries_the_patient_and_encounter(hub: Hub) -> None:
    created = create_launch(hub, system_token(hub), patient="tolvan", encounter="enc-1")
    assert created.status_code == 201 and created.json()["expires_in"] == 300
    back = launch_app(hub, created.json()["launch"])
    response = redeem(hub, back)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["patient"], body["encounter"], body["fhirUser"]) == ("tolvan", "enc-1", "Practitioner/doris")
    assert body["need_patient_banner"] is False and "id_token" in body
    assert Scopes.parse(body["scope"]) == Scopes.parse(EHR_SCOPE)
    ctx = hub.services.tokens.verify_access_token(body["access_token"], now=hub.clock.now)
    assert ctx.principal == DORIS and (ctx.patient, ctx.encounter) == ("tolvan", "enc-1")
    assert ctx.scopes.allows("Observation", "r", "user") and ctx.scopes.allows("Observation", "s", "patient")


def test_ehr_launch__a_clinicians_launch_is_only_for_that_clinician(hub: Hub) -> None:
    doris_token = hub.services.tokens.issue(DORIS, Scopes.parse("user/*.rs"), client_id="ehr", now=hub.clock.now).token
    launch = create_launch(hub, doris_token, patient="tolvan").json()["launch"]
    back = launch_app(hub, launch, principal=SVEN)
    assert (back["error"], back["error_description"]) == ("access_denied", "The EHR launched this app for another "
                                                                           "clinician")


def test_ehr_launch__a_launch_id_is_used_once_and_expires(hub: Hub) -> None:
    system = system_token(hub)
    launch = create_launch(hub, system, patient="tolvan").json()["launch"]
    assert "code" in launch_app(hub, launch)
    params = authorize_params(client_id="journalvy", redirect_uri=EHR_APP_CB, scope=EHR_SCOPE, launch=launch)
    again = hub.client.get("/auth/authorize", params=params)
    assert "launch+is+unknown%2C+already+used+or+expired" in again.headers["location"]
    stale = create_launch(hub, system, patient="tolvan").json()["launch"]
    hub.clock.advance(minutes=5, seconds=1)
    params = authorize_params(client_id="journalvy", redirect_uri=EHR_APP_CB, scope=EHR_SCOPE, launch=stale)
    assert "error=invalid_request" in hub.client.get("/auth/authorize", params=params).headers["location"]


def test_ehr_launch__needs_the_launch_scope(hub: Hub) -> None:
    launch = create_launch(hub, system_token(hub), patient="tolvan").json()["launch"]
    params = authorize_params(client_id="journalvy", redirect_uri=EHR_APP_CB, scope="user/*.rs", launch=launch)
    location = hub.client.get("/auth/authorize", params=params).headers["location"]
    assert "error=invalid_scope" in location and "needs+the+%27launch%27+scope" in location


def test_create_launch__without_a_token_is_401_with_a_bearer_challenge(hub: Hub) -> None:
    response = hub.client.post("/auth/launch", json={"patient": "tolvan"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == 'Bearer realm="ingang"'
    assert response.json()["issue"][0]["diagnostics"].startswith("No access token was sent")


def test_create_launch__a_citizen_may_not_create_one(hub: Hub) -> None:
    citizen = hub.services.tokens.issue(TOLVAN, Scopes.parse("patient/*.rs"), client_id="app", now=hub.clock.now)
    response = create_launch(hub, citizen.token, patient="tolvan")
    assert response.status_code == 403
    assert response.json()["issue"][0]["diagnostics"] == ("Only a clinician or a regional system may create an EHR "
                                                          "launch context")


def test_create_launch__needs_read_access_to_patient_and_a_patient_id(hub: Hub) -> None:
    response = create_launch(hub, system_token(hub, scope="system/Task.cu"), patient="tolvan")
    assert response.status_code == 403 and "system/Patient.rs" in response.json()["issue"][0]["diagnostics"]
    response = create_launch(hub, system_token(hub), patient="../etc/passwd")
    assert response.status_code == 400 and response.json()["issue"][0]["diagnostics"] == "'patient' must be a Patient id"


def test_create_launch__an_expired_token_is_refused(hub: Hub) -> None:
    system = system_token(hub)
    hub.clock.advance(seconds=(timedelta(minutes=5, seconds=31)).total_seconds())
    response = create_launch(hub, system, patient="tolvan")
    assert response.status_code == 401 and response.json()["issue"][0]["diagnostics"].startswith(
        "The access token expired at")
