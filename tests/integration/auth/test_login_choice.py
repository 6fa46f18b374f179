"""After the identity provider, the hub asks whom the person acts as: themselves or a child, or a commission.

Driven over HTTP like a browser: /authorize, the dev login, the callback, the hub's choice page,
then the code at the app. The dev login runs the demo people's claims through the same mappers
as BankID and SITHS.
"""

from __future__ import annotations

import json
import re

import pytest

from adapters.idp.dev import InMemoryPopulationRegister
from adapters.idp.smart import StaticDirectory, client_from_config
from adapters.idp.smart.services import CHOOSE_PATH
from adapters.idp.tokens import principal_to_claim
from cases.principals import CARE_PURPOSE, Citizen, Clinician, Commission, Guardian, Principal

from .conftest import APP_CB, EHR_APP_CB, HUB, TOLVAN, Hub, authorize_params, pkce, query_of, token

CHILD = "201712122389"  # seven years old on the test clock (2025-03-01)
GROWN_UP = "200001012384"  # 25 on the test clock: logs in for themselves
REGION_APP_CB = "https://statistik.example/cb"
ADMIN = Clinician("SE2321000016-A001", Commission("SE2321000016-A001-adm", "SE2321000016-15CQ", "SE2321000016-0001",
                                                  purpose="Administration", rights=("Statistik;Alla;Alla",),
                                                  care_unit_name="Regionkansliet"))


@pytest.fixture(autouse=True)
def family(hub: Hub) -> None:
    """Give Tolvan a young child and a grown-up one in the register, and the child a name in the hub."""
    hub.services.register = InMemoryPopulationRegister({TOLVAN.person_id: (CHILD, GROWN_UP)})
    hub.services.directory = StaticDirectory(
        patients={TOLVAN.person_id: "tolvan", CHILD: "lilla-tolvan"},
        users={TOLVAN.person_id: "Patient/tolvan"}, names={CHILD: "Lilla Tolvansson"})


def back_from_login(hub: Hub, params: dict[str, str], **login: str) -> str:
    """Run /authorize and the dev login; return where the hub's callback sends the browser."""
    assert hub.client.get("/auth/authorize", params=params).status_code == 302
    back = hub.client.get("/auth/callback", params=login)
    assert back.status_code == 302, back.text
    return str(back.headers["location"])


def as_json(principal: Principal) -> str:
    return json.dumps(principal_to_claim(principal))


def offered(hub: Hub) -> dict[str, str]:
    """Return the choice page's buttons, text → key."""
    page = hub.client.get(CHOOSE_PATH)
    assert page.status_code == 200, page.text
    assert "no-store" in page.headers["cache-control"]
    return {text: key for key, text in re.findall(r"value='(\d+)'[^>]*>([^<]+)</button>", page.text)}


def choose(hub: Hub, key: str) -> dict[str, str]:
    """Post the choice; return the app's redirect query."""
    chosen = hub.client.post(CHOOSE_PATH, data={"choice": key})
    assert chosen.status_code == 303, chosen.text
    return query_of(chosen.headers["location"])


def redeem(hub: Hub, code: str, verifier: str, client_id: str = "triage-app", redirect_uri: str = APP_CB) -> dict[str, str]:
    answer = token(hub, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                         "redirect_uri": redirect_uri, "client_id": client_id})
    assert answer.status_code == 200, answer.text
    body: dict[str, str] = answer.json()
    return body


def test_parent_login__offers_themselves_and_their_young_child_but_not_the_grown_up_one(hub: Hub) -> None:
    where = back_from_login(hub, authorize_params(), principal=as_json(TOLVAN))
    assert where == f"{HUB}{CHOOSE_PATH}"
    assert set(offered(hub)) == {"Mig själv", "Lilla Tolvansson"}


def test_parent_login__choosing_the_child_gives_a_token_for_the_childs_record(hub: Hub) -> None:
    verifier, challenge = pkce()
    back_from_login(hub, authorize_params(challenge=challenge), principal=as_json(TOLVAN))
    back = choose(hub, offered(hub)["Lilla Tolvansson"])
    tokens = redeem(hub, back["code"], verifier)
    assert tokens["patient"] == "lilla-tolvan"
    access = hub.services.tokens.verify_authorization(f"Bearer {tokens['access_token']}", now=hub.clock())
    assert access.principal == Guardian(citizen=TOLVAN, child_person_id=CHILD)


def test_parent_login__choosing_themselves_gives_their_own_record(hub: Hub) -> None:
    verifier, challenge = pkce()
    back_from_login(hub, authorize_params(challenge=challenge), principal=as_json(TOLVAN))
    tokens = redeem(hub, choose(hub, offered(hub)["Mig själv"])["code"], verifier)
    assert tokens["patient"] == "tolvan"


def test_login_without_children__goes_straight_back_to_the_app(hub: Hub) -> None:
    loner = Citizen("198112189876", given_name="Anders")
    hub.services.directory = StaticDirectory(patients={loner.person_id: "anders"})
    where = back_from_login(hub, authorize_params(), principal=as_json(loner))
    assert where.startswith(APP_CB) and "code" in query_of(where)


def test_app_that_asks_for_no_patient__is_not_offered_a_child(hub: Hub) -> None:
    where = back_from_login(hub, authorize_params(scope="openid fhirUser"), principal=as_json(TOLVAN))
    assert where.startswith(APP_CB) and "code" in query_of(where)


def test_choice__is_made_once_and_a_key_not_offered_is_refused(hub: Hub) -> None:
    params = authorize_params()
    back_from_login(hub, params, principal=as_json(TOLVAN))
    refused = choose(hub, "9")
    assert refused["error"] == "access_denied" and refused["state"] == params["state"]
    again = hub.client.post(CHOOSE_PATH, data={"choice": "0"})
    assert again.status_code == 400 and "logga in igen" in again.text
    assert hub.client.get(CHOOSE_PATH).status_code == 400


def test_choice_page__speaks_english_when_asked(hub: Hub) -> None:
    back_from_login(hub, authorize_params(), principal=as_json(TOLVAN))
    page = hub.client.get(CHOOSE_PATH, params={"lang": "en"})
    assert "<html lang='en'>" in page.text and "Who is it for?" in page.text and ">Myself<" in page.text


def test_clinician_with_several_commissions__chooses_one_and_acts_under_it(hub: Hub) -> None:
    verifier, challenge = pkce()
    params = authorize_params(client_id="journalvy", redirect_uri=EHR_APP_CB, scope="openid fhirUser user/*.rs",
                              challenge=challenge)
    where = back_from_login(hub, params, person="SE2321000000-P002")
    assert where == f"{HUB}{CHOOSE_PATH}"
    buttons = offered(hub)
    assert set(buttons) == {"Digitala mottagningen Norr", "Vårdcentralen Norrstaden"}
    back = choose(hub, buttons["Vårdcentralen Norrstaden"])
    answer = token(hub, {"grant_type": "authorization_code", "code": back["code"], "code_verifier": verifier,
                         "redirect_uri": EHR_APP_CB}, auth=("journalvy", "s3cret-journalvy"))
    access = hub.services.tokens.verify_authorization(f"Bearer {answer.json()['access_token']}", now=hub.clock())
    assert isinstance(access.principal, Clinician)
    assert access.principal.commission.commission_hsa_id == "SE2321000000-P002-vc-norr"


def test_administrator__is_refused_by_an_app_for_care_with_the_purpose_named(hub: Hub) -> None:
    params = authorize_params(client_id="journalvy", redirect_uri=EHR_APP_CB, scope="openid fhirUser user/*.rs")
    back = query_of(back_from_login(hub, params, principal=as_json(ADMIN)))
    assert back["error"] == "access_denied"
    assert back["error_description"] == ("You logged in with a commission for Administration; this app takes "
                                         f"commissions for {CARE_PURPOSE}")


def test_demo_administrator__logs_in_to_the_statistics_app_under_the_administration_commission(hub: Hub) -> None:
    hub.services.clients.add(client_from_config({  # type: ignore[attr-defined]
        "client_id": "statistik", "redirect_uris": [REGION_APP_CB], "login": "clinician",
        "scope": "openid fhirUser offline_access", "commission_purposes": "Administration"}))
    verifier, challenge = pkce()
    params = authorize_params(client_id="statistik", redirect_uri=REGION_APP_CB, scope="openid fhirUser",
                              challenge=challenge)
    back = query_of(back_from_login(hub, params, person="SE2321000000-A001"))
    tokens = redeem(hub, back["code"], verifier, client_id="statistik", redirect_uri=REGION_APP_CB)
    access = hub.services.tokens.verify_authorization(f"Bearer {tokens['access_token']}", now=hub.clock())
    assert isinstance(access.principal, Clinician)
    assert access.principal.commission.purpose == "Administration"
    assert "Statistik;Alla;Alla" in access.principal.commission.rights


def test_demo_administrator__cannot_log_in_to_an_app_for_care(hub: Hub) -> None:
    params = authorize_params(client_id="journalvy", redirect_uri=EHR_APP_CB, scope="openid fhirUser user/*.rs")
    back = query_of(back_from_login(hub, params, person="SE2321000000-A001"))
    assert back["error"] == "access_denied"
    assert "has no commission for Vård och behandling; the commissions found are for Administration" in \
        back["error_description"]


def test_dev_login_page__lists_the_demo_people_for_the_kind_of_login(hub: Hub) -> None:
    staff = hub.client.get("/auth/dev/login", params={"purpose": "clinician", "client": "Statistik"}).text
    citizens = hub.client.get("/auth/dev/login", params={"purpose": "citizen"}).text
    assert "value='SE2321000000-A001'" in staff and ">Alva Admin</button>" in staff
    assert "value='198112189876'" in citizens and "SE2321000000-A001" not in citizens
    assert "name='principal'" in citizens, "any other principal can still be typed as JSON"
