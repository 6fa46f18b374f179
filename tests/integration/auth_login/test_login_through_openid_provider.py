"""A full SMART login through the real OpenID provider: app → hub → provider → hub → app → token."""

from __future__ import annotations

import json
import re
import secrets

import pytest

from adapters.idp.oidc.login_backend import COMMISSION_HINT
from adapters.idp.smart import LoginFailed, LoginRequest, s256
from cases.principals import Citizen, Clinician, Commission
from tests.integration.idp.op_process import RunningProvider
from tests.integration.idp.op_process import authorize as provider_login

from .conftest import (
    CHOSE_IN_IDP,
    CITIZEN_APP,
    CITIZEN_APP_CB,
    CLINICIAN_APP,
    CLINICIAN_APP_CB,
    CLINICIAN_SCOPE,
    HUB,
    Authorization,
    Browser,
    RunningHub,
    query_of,
    with_login_hint,
)

TOLVAN = Citizen(person_id="191212121212", given_name="Tolvan", family_name="Tolvansson")
RIGHTS = ("Läsa;Alla;Alla", "Skriva;Alla;Alla")


def clinician_logs_in(browser: Browser, employee_hsa_id: str) -> Authorization:
    return browser.log_in(employee_hsa_id, client_id=CLINICIAN_APP, redirect_uri=CLINICIAN_APP_CB,
                          scope=CLINICIAN_SCOPE)


def test_a_citizen_logs_in_with_bankid_through_the_provider_and_the_app_gets_a_token_for_them(
        browser: Browser) -> None:
    login = browser.log_in("191212121212")
    assert login.back["state"] == login.params["state"] and login.back["iss"] == HUB
    response = browser.redeem(login)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"] and body["id_token"]
    access = browser.hub.verify(body["access_token"])
    assert access.principal == TOLVAN
    assert access.client_id == CITIZEN_APP


def test_the_citizens_refresh_token_gives_a_new_access_token_for_the_same_person_once(browser: Browser) -> None:
    body = browser.redeem(browser.log_in("191212121212")).json()
    form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": CITIZEN_APP}
    refreshed = browser.token(form)
    assert refreshed.status_code == 200, refreshed.text
    assert browser.hub.verify(refreshed.json()["access_token"]).principal == TOLVAN
    assert refreshed.json()["refresh_token"] != body["refresh_token"]
    assert browser.token(form).json()["error"] == "invalid_grant"


def test_a_code_with_the_wrong_pkce_verifier_gets_no_token(browser: Browser) -> None:
    login = browser.log_in("191212121212")
    response = browser.redeem(login, verifier="w" * 64)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()


def test_a_citizen_with_a_samordningsnummer_logs_in_as_such(browser: Browser) -> None:
    access = browser.hub.verify(browser.redeem(browser.log_in("197010632391")).json()["access_token"])
    assert isinstance(access.principal, Citizen)
    assert access.principal.person_id == "197010632391" and access.principal.coordination_number


def test_a_clinician_with_one_commission_acts_under_it_at_their_demo_unit(browser: Browser) -> None:
    response = browser.redeem(clinician_logs_in(browser, "SE2321000000-P001"))
    assert response.status_code == 200, response.text
    access = browser.hub.verify(response.json()["access_token"])
    assert access.principal == Clinician(
        employee_hsa_id="SE2321000000-P001",
        commission=Commission(commission_hsa_id="SE2321000000-P001-digital-norr",
                              care_unit_hsa_id="SE2321000000-DIG1", care_provider_hsa_id="SE2321000000-NORR",
                              rights=RIGHTS, care_unit_name="Digitala mottagningen Norr"),
        given_name="Anna", family_name="Lind", profession="Sjuksköterska", licences=("SJ",))
    assert access.scopes.allows("Encounter", "r", "user")


def test_a_commission_the_clinician_chose_in_the_identity_provider_is_the_one_acted_under(browser: Browser) -> None:
    access = browser.hub.verify(browser.redeem(clinician_logs_in(browser, "SE2321000000-P003")).json()["access_token"])
    assert isinstance(access.principal, Clinician)
    assert access.principal.commission.commission_hsa_id == "SE2321000000-P003-vc-syd"
    assert access.principal.commission.care_unit_hsa_id == "SE2321000000-VC02"


def test_a_choice_made_in_the_identity_provider_stands_even_when_it_lists_every_commission(
        browser: Browser) -> None:
    access = browser.hub.verify(browser.redeem(clinician_logs_in(browser, CHOSE_IN_IDP)).json()["access_token"])
    assert isinstance(access.principal, Clinician)
    assert access.principal.commission.commission_hsa_id == "SE2321000000-P002-vc-norr"


def test_a_clinician_with_several_commissions_and_no_choice_chooses_one_on_the_hubs_page(browser: Browser) -> None:
    verifier = secrets.token_urlsafe(48)
    params = browser.authorize_params(CLINICIAN_APP, CLINICIAN_APP_CB, CLINICIAN_SCOPE, s256(verifier))
    answer = provider_login(with_login_hint(browser.to_provider(params), "SE2321000000-P002"))
    back = browser.hub.client.get("/auth/callback", params=answer)
    assert back.status_code == 302 and back.headers["location"] == f"{HUB}/auth/choose"
    page = browser.hub.client.get("/auth/choose")
    assert page.status_code == 200 and "Välj uppdrag" in page.text
    offered = dict((name, key) for key, name in re.findall(r"value='(\d+)'[^>]*>([^<]+)</button>", page.text))
    assert set(offered) == {"Digitala mottagningen Norr", "Vårdcentralen Norrstaden"}

    chosen = browser.hub.client.post("/auth/choose", data={"choice": offered["Vårdcentralen Norrstaden"]})
    assert chosen.status_code == 303 and chosen.headers["location"].startswith(CLINICIAN_APP_CB + "?")
    tokens = browser.redeem(Authorization(params, verifier, query_of(chosen.headers["location"]))).json()
    access = browser.hub.verify(tokens["access_token"])
    assert isinstance(access.principal, Clinician)
    assert access.principal.commission.commission_hsa_id == "SE2321000000-P002-vc-norr"
    again = browser.hub.client.post("/auth/choose", data={"choice": offered["Digitala mottagningen Norr"]})
    assert again.status_code == 400, "a choice is made once"


def test_a_choice_that_was_not_offered_sends_the_app_an_access_denied(browser: Browser) -> None:
    verifier = secrets.token_urlsafe(48)
    params = browser.authorize_params(CLINICIAN_APP, CLINICIAN_APP_CB, CLINICIAN_SCOPE, s256(verifier))
    answer = provider_login(with_login_hint(browser.to_provider(params), "SE2321000000-P002"))
    browser.hub.client.get("/auth/callback", params=answer)
    refused = browser.hub.client.post("/auth/choose", data={"choice": "7"})
    assert refused.status_code == 303
    back = query_of(refused.headers["location"])
    assert back["error"] == "access_denied" and "code" not in back and back["state"] == params["state"]


def test_a_commission_hint_in_the_login_request_picks_which_commission_the_clinician_acts_under(
        hub: RunningHub, openid_provider: RunningProvider) -> None:
    backend = hub.logins["clinician"]
    request = LoginRequest(login_id="l-1", callback_url=f"{HUB}/auth/callback", client_id=CLINICIAN_APP,
                           memo={COMMISSION_HINT: "SE2321000000-P002-vc-norr"})
    url = backend.start(request, "clinician")
    answer = provider_login(with_login_hint(url, "SE2321000000-P002"))
    # The hub stores the memo as JSON between the two calls; so does this test.
    principal = backend.finish(answer, json.loads(json.dumps(request.memo)))
    assert isinstance(principal, Clinician)
    assert principal.commission.care_unit_hsa_id == "SE2321000000-VC01"


def test_a_commission_hint_that_is_not_the_clinicians_is_refused(
        hub: RunningHub, openid_provider: RunningProvider) -> None:
    backend = hub.logins["clinician"]
    request = LoginRequest(login_id="l-2", callback_url=f"{HUB}/auth/callback", client_id=CLINICIAN_APP,
                           memo={COMMISSION_HINT: "SE2321000000-P001-digital-norr"})
    answer = provider_login(with_login_hint(backend.start(request, "clinician"), "SE2321000000-P002"))
    with pytest.raises(LoginFailed, match="'SE2321000000-P001-digital-norr' is not one of the commissions you may use here"):
        backend.finish(answer, request.memo)


def test_a_clinician_without_a_commission_for_care_is_refused(browser: Browser) -> None:
    back = clinician_logs_in(browser, "SE2321000000-A001").back
    assert back["error"] == "access_denied"
    assert back["error_description"] == ("SE2321000000-A001 has no commission for Vård och behandling; "
                                         "the commissions found are for Administration")


def test_a_citizen_cannot_log_in_to_a_clinicians_app_and_their_number_is_not_repeated(browser: Browser) -> None:
    back = clinician_logs_in(browser, "191212121212").back
    assert back == {"error": "access_denied", "error_description": "The identity provider sent no employeeHsaId",
                    "iss": HUB, "state": back["state"]}


def test_a_login_cancelled_at_the_provider_goes_back_to_the_app_as_access_denied(browser: Browser) -> None:
    back = browser.log_in("nobody-by-this-name").back
    assert back["error"] == "access_denied"
    assert back["error_description"] == "The identity provider ended the login (access_denied)"


def test_the_providers_answer_to_another_login_in_the_browser_is_refused(browser: Browser) -> None:
    first = browser.authorize_params(CITIZEN_APP, CITIZEN_APP_CB, "openid fhirUser", "a" * 43)
    first_answer = provider_login(with_login_hint(browser.to_provider(first), "191212121212"))
    second = browser.authorize_params(CITIZEN_APP, CITIZEN_APP_CB, "openid fhirUser", "b" * 43)
    browser.to_provider(second)
    # The browser's login cookie now names the second login; the first one's answer must not finish it.
    back = browser.back_to_app(first_answer, CITIZEN_APP_CB)
    assert back["error"] == "access_denied" and back["state"] == second["state"]
    assert "does not belong to the login this browser started" in back["error_description"]
