"""SMART clients against a running hub with access control on: a regional system, a citizen, a clinician.

The hub runs as an operator starts it (uvicorn, INGANG_* variables, demo regions and staff,
access control on) with a clients file registering a backend service per region and a citizen
and a clinician app. Tokens are got the way each client gets them — a signed JWT assertion
(SMART Backend Services) for the regional systems, the authorization code flow with PKCE
through the dev login for people — and then used with fhirpy: each sees what PDL lets it see.
https://hl7.org/fhir/smart-app-launch/backend-services.html
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound
from joserfc import jwt
from joserfc.jwk import ECKey

from mappings.personnummer import luhn_check_digit
from tests.conftest import BACKENDS
from tests.processes import (
    assert_no_tracebacks,
    authorization_code_token,
    free_port,
    hub_env,
    migrate,
    scratch_pg_database,
    start_hub,
    stop_process,
)

pytestmark = pytest.mark.e2e

NORR, SYD = "SE2321000000-NORR", "SE2321000000-SYD"
DIG1, VC01 = "SE2321000000-DIG1", "SE2321000000-VC01"
HSA = "urn:oid:1.2.752.29.4.19"
PNR = "http://electronichealth.se/identifier/personnummer"
APP_CB = "http://127.0.0.1:9/cb"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ANNA = {"kind": "clinician", "employee_hsa_id": "SE2321000000-P001", "given_name": "Anna",
        "commission": {"commission_hsa_id": "SE2321000000-P001-digital-norr", "care_unit_hsa_id": DIG1,
                       "care_provider_hsa_id": NORR}}


def personnummer(born: str, serial: str) -> str:
    """Return a valid 12-digit personnummer for a birth date (YYYYMMDD) and a 3-digit serial."""
    nine = born[2:] + serial
    return f"{born}{serial}{luhn_check_digit(nine)}"


KARIN, OLLE = personnummer("19850505", "238"), personnummer("19900707", "139")


@dataclass
class SmartHub:
    """The running hub, the regions' backend keys, and the ids of the two cases the tests made."""

    base_url: str
    keys: dict[str, ECKey]
    ids: dict[str, str]

    @property
    def fhir_base(self) -> str:
        """Return the FHIR base URL."""
        return f"{self.base_url}/fhir"


def _clients_file(path: Path, keys: dict[str, ECKey]) -> Path:
    systems = [{"client_id": f"journal-{name}", "auth_method": "private_key_jwt", "region": region,
                "jwks": {"keys": [keys[name].as_dict(private=False)]}, "scope": "system/*.cruds"}
               for name, region in (("norr", NORR), ("syd", SYD))]
    apps = [{"client_id": "citizen-app", "redirect_uris": [APP_CB], "login": "citizen",
             "scope": "openid fhirUser launch/patient patient/*.rs"},
            {"client_id": "clinician-app", "redirect_uris": [APP_CB], "login": "clinician",
             "scope": "openid fhirUser user/*.rs"}]
    path.write_text(json.dumps({"clients": systems + apps}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """Create a PostgreSQL database of this module's own (demo data goes in), migrated; drop it after."""
    with scratch_pg_database("ingang_e2e_smart") as url:
        migrate(url)
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def smart_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartHub]:
    """Start the hub with access control on and demo data, then make one case at DIG1 and one at VC01."""
    workdir = tmp_path_factory.mktemp(f"e2e-smart-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'hub.db'}"
        migrate(url)
    else:
        url = request.getfixturevalue("pg_database")
    keys = {name: ECKey.generate_key("P-256", private=True, parameters={"kid": f"{name}-1"}) for name in ("norr", "syd")}
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = hub_env(url, INGANG_ACCESS_CONTROL="true", INGANG_DEMO_DATA="true", INGANG_BASE_URL=f"{base_url}/fhir",
                  INGANG_CLIENTS_FILE=str(_clients_file(workdir / "clients.json", keys)))
    log = workdir / "hub.log"
    proc = start_hub(env, port, log)
    try:
        hub = SmartHub(base_url, keys, {})
        hub.ids = _make_cases(hub)
        yield hub
    finally:
        stop_process(proc)
    assert_no_tracebacks(log)


def system_token(hub: SmartHub, region: str, scope: str = "system/*.cruds") -> str:
    """Get a Backend Services token for a region's journal system with a signed JWT assertion."""
    token_url = f"{hub.base_url}/auth/token"
    claims = {"iss": f"journal-{region}", "sub": f"journal-{region}", "aud": token_url,
              "jti": secrets.token_hex(12), "exp": int(time.time()) + 240}
    assertion = jwt.encode({"alg": "ES256", "kid": f"{region}-1", "typ": "JWT"}, claims, hub.keys[region],
                           algorithms=["ES256"])
    response = httpx.post(token_url, data={"grant_type": "client_credentials", "scope": scope,
                                           "client_assertion_type": JWT_BEARER, "client_assertion": assertion})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == scope
    token: str = body["access_token"]
    return token


def person_token(hub: SmartHub, client_id: str, principal: dict[str, Any], scope: str) -> dict[str, Any]:
    """Log a person in through /authorize and the dev login with PKCE; return the token response."""
    return authorization_code_token(hub.base_url, client_id, principal, scope, redirect_uri=APP_CB, aud=hub.fhir_base)


def fhir(hub: SmartHub, token: str) -> SyncFHIRClient:
    """Return a fhirpy client that sends the token."""
    return SyncFHIRClient(hub.fhir_base, authorization=f"Bearer {token}")


def _make_cases(hub: SmartHub) -> dict[str, str]:
    """As Region Norr's journal system: a patient with a case at DIG1, another with a case at VC01."""
    norr = fhir(hub, system_token(hub, "norr"))
    units = {hsa: norr.resources("Organization").search(identifier=f"{HSA}|{hsa}").get().id for hsa in (DIG1, VC01)}
    ids: dict[str, str] = {}
    for who, pnr, unit in (("karin", KARIN, DIG1), ("olle", OLLE, VC01)):
        patient = norr.resource("Patient", identifier=[{"system": PNR, "value": pnr}],
                                name=[{"family": "Testsson", "given": [who.capitalize()]}])
        patient.save()
        encounter = norr.resource("Encounter", status="arrived", subject={"reference": f"Patient/{patient.id}"},
                                  **{"class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                               "code": "VR"}},
                                  serviceProvider={"reference": f"Organization/{units[unit]}"})
        encounter.save()
        ids[f"{who}-patient"], ids[f"{who}-encounter"] = str(patient.id), str(encounter.id)
    return ids


def test_a_regional_system__sees_its_regions_cases_and_another_region_sees_none(smart_hub: SmartHub) -> None:
    norr = fhir(smart_hub, system_token(smart_hub, "norr", "system/Encounter.rs system/Patient.rs"))
    found = {e.id for e in norr.resources("Encounter").search(
        subject=f"Patient/{smart_hub.ids['karin-patient']}").fetch_all()}
    assert found == {smart_hub.ids["karin-encounter"]}
    assert norr.reference("Encounter", smart_hub.ids["olle-encounter"]).to_resource()["status"] == "arrived"

    syd = fhir(smart_hub, system_token(smart_hub, "syd", "system/Encounter.rs system/Patient.rs"))
    with pytest.raises(ResourceNotFound):
        syd.reference("Encounter", smart_hub.ids["karin-encounter"]).to_resource()
    assert syd.resources("Patient").search(identifier=f"{PNR}|{KARIN}").fetch_all() == []


def test_a_regional_systems_scopes__limit_what_its_token_may_do(smart_hub: SmartHub) -> None:
    read_only = fhir(smart_hub, system_token(smart_hub, "norr", "system/Encounter.rs"))
    response = httpx.post(f"{smart_hub.fhir_base}/Encounter", json={"resourceType": "Encounter", "status": "planned"},
                          headers={"Authorization": f"Bearer {read_only.authorization.split()[1]}"})
    assert response.status_code == 403 and response.json()["resourceType"] == "OperationOutcome"


def test_a_citizens_token__reads_their_own_data_and_nothing_of_anyone_elses(smart_hub: SmartHub) -> None:
    body = person_token(smart_hub, "citizen-app", {"kind": "citizen", "person_id": KARIN},
                        "openid fhirUser launch/patient patient/*.rs")
    assert body["patient"] == smart_hub.ids["karin-patient"]
    karin = fhir(smart_hub, body["access_token"])

    assert karin.reference("Patient", smart_hub.ids["karin-patient"]).to_resource()["identifier"][0]["value"] == KARIN
    assert {e.id for e in karin.resources("Encounter").fetch_all()} == {smart_hub.ids["karin-encounter"]}
    for res_type, key in (("Patient", "olle-patient"), ("Encounter", "olle-encounter")):
        with pytest.raises(ResourceNotFound):
            karin.reference(res_type, smart_hub.ids[key]).to_resource()
    assert karin.resources("Patient").search(identifier=f"{PNR}|{OLLE}").fetch_all() == []


def test_a_clinicians_token__sees_the_units_case_and_gets_404_for_another_units(smart_hub: SmartHub) -> None:
    body = person_token(smart_hub, "clinician-app", ANNA, "openid fhirUser user/*.rs")
    anna = fhir(smart_hub, body["access_token"])

    assert anna.reference("Encounter", smart_hub.ids["karin-encounter"]).to_resource()["status"] == "arrived"
    assert anna.reference("Patient", smart_hub.ids["karin-patient"]).to_resource().id == smart_hub.ids["karin-patient"]
    with pytest.raises(ResourceNotFound):
        anna.reference("Encounter", smart_hub.ids["olle-encounter"]).to_resource()
    missing = httpx.get(f"{smart_hub.fhir_base}/Encounter/no-such-encounter",
                        headers={"Authorization": f"Bearer {body['access_token']}"})
    hidden = httpx.get(f"{smart_hub.fhir_base}/Encounter/{smart_hub.ids['olle-encounter']}",
                       headers={"Authorization": f"Bearer {body['access_token']}"})
    assert hidden.status_code == missing.status_code == 404
    found = {e.id for e in anna.resources("Encounter").search(status="arrived").fetch_all()}
    assert smart_hub.ids["karin-encounter"] in found and smart_hub.ids["olle-encounter"] not in found


def test_without_a_token__patient_data_is_401_and_the_capability_statement_is_open(smart_hub: SmartHub) -> None:
    assert httpx.get(f"{smart_hub.fhir_base}/Encounter/{smart_hub.ids['karin-encounter']}").status_code == 401
    assert httpx.get(f"{smart_hub.fhir_base}/metadata").status_code == 200
