"""Several clinicians claim the same case at the same moment: exactly one wins, the others get 409."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from cases.principals import Clinician, Commission
from fhir_api.messages import FhirRequest
from fhir_api.outcomes import FhirError
from tests.integration.cases.workflow_world import ANNA, DIG1, ERIK, NILS, NORR, WorkflowHub, workflow_hub

CLAIMANTS = [ANNA, ERIK, NILS] + [
    Clinician(f"SE2321000000-R{n:03d}", Commission(f"SE2321000000-R{n:03d}-digital-norr", DIG1, NORR),
              given_name="Vikarie", family_name=str(n), profession="Sjuksköterska") for n in range(5)]
ROUNDS = 3


@pytest.fixture
def world(database_url: str) -> Iterator[WorkflowHub]:
    yield from workflow_hub(database_url)


def test_claim_race__exactly_one_of_many_concurrent_claims_wins(world: WorkflowHub) -> None:
    server = world.hub.fhir
    headers = {c.employee_hsa_id: {"authorization": world.headers(c)["Authorization"]} for c in CLAIMANTS}
    for _ in range(ROUNDS):
        task_id, _encounter = world.open_case()
        start = threading.Barrier(len(CLAIMANTS))

        def claim(clinician: Clinician, task: str = task_id, barrier: threading.Barrier = start) -> tuple[int, str]:
            req = FhirRequest("POST", f"Task/{task}/$claim", headers=headers[clinician.employee_hsa_id],
                              body={"resourceType": "Parameters"})
            barrier.wait()
            try:
                resp = server.handle(req)  # its own unit of work, on its own pooled connection
            except FhirError as err:
                return err.status, err.diagnostics
            body = resp.json() or {}
            return resp.status, body["owner"]["reference"]

        with ThreadPoolExecutor(len(CLAIMANTS)) as pool:
            results = list(pool.map(claim, CLAIMANTS))
        winners = [owner for status, owner in results if status == 200]
        assert len(winners) == 1, results
        losers = [text for status, text in results if status != 200]
        assert all(status == 409 for status, _ in results if status != 200), results
        assert all(text.startswith("cannot claim: ") for text in losers), losers
        task = world.get(ANNA, f"Task/{task_id}").json()
        assert task["owner"]["reference"] == winners[0]
        assert task["meta"]["versionId"] == "2"  # created, then claimed once: never twice
