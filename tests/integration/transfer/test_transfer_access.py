"""Who may move a case to another hub, and who may hand one in: under the PDL guard."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cases.principals import Citizen, Clinician, Commission, RegionalSystem
from fhir_api.messages import FhirRequest
from fhir_api.outcomes import FhirError
from hub.app import Hub, create_app
from tests.conftest import hub_settings
from tests.integration.journal.case_world import UNIT_HSA, seed_case

from .two_hubs import TARGET_HSA, write_configs

NURSE = Clinician("SE2321000000-P001", Commission("SE2321000000-P001-dig1", UNIT_HSA, "SE2321000000-NORR"),
                  given_name="Anna", family_name="Lind")
OTHER_UNIT = Clinician("SE2321000000-P002", Commission("SE2321000000-P002-vc01", "SE2321000000-VC01",
                                                       "SE2321000000-NORR"))
PATIENT = Citizen("191212121212")


@pytest.fixture
def guarded(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    a_peers, _clients, _peers = write_configs(tmp_path)
    app = create_app(hub_settings(database_url, access_control=True, outbox_dispatcher="off",
                                  peer_hubs_file=str(a_peers)))
    with TestClient(app):
        yield app.state.hub


def transfer_out(hub: Hub, task_id: str, caller: Any) -> int:
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "hub", "valueString": "syd"}, {"name": "unit", "valueString": TARGET_HSA},
        {"name": "reason", "valueString": "Bor i Region Syd"}]}
    try:
        return hub.fhir.handle(FhirRequest("POST", f"Task/{task_id}/$transfer-out", body=body, caller=caller)).status
    except FhirError as exc:
        return exc.status


def test_transfer_out__the_clinician_at_the_cases_unit_may(guarded: Hub) -> None:
    case = seed_case(guarded.fhir)

    assert transfer_out(guarded, case.task, NURSE) == 200


def test_transfer_out__a_clinician_at_another_unit_does_not_see_the_case(guarded: Hub) -> None:
    case = seed_case(guarded.fhir)

    assert transfer_out(guarded, case.task, OTHER_UNIT) == 404


def test_transfer_out__the_citizen_may_not(guarded: Hub) -> None:
    case = seed_case(guarded.fhir)

    assert transfer_out(guarded, case.task, PATIENT) == 403


def test_receive__a_regional_system_not_listed_as_a_peer_is_refused(guarded: Hub) -> None:
    case = seed_case(guarded.fhir)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    caller = RegionalSystem("journal-norr", "norr", ("system/Task.c",))
    request = FhirRequest("POST", f"Organization/{case.unit}/$receive-transfer", body=bundle, caller=caller)

    with pytest.raises(FhirError, match="accept_from") as refused:
        guarded.fhir.handle(request)
    assert refused.value.status == 403
