"""A hub as `create_app` builds it, with access control on, demo data, and cases opened the way intake opens them.

Clinicians and citizens come from the demo directory (hub/demo_data, adapters/idp/dev): Anna
and Erik work at Digitala mottagningen Norr (DIG1), Erik also at Vårdcentralen Norrstaden
(VC01), Maria at Vårdcentralen Söderhamnen (VC02). Tokens are the hub's own, as a login would
issue them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from adapters.idp.tokens import Scopes
from cases.access import HubItself
from cases.intake import Intake, encounter_for, task_for
from cases.principals import HSA_SYSTEM, PERSONNUMMER_SYSTEM, Citizen, Clinician, Commission
from cases.routing import Routing
from fhir_api.messages import FhirRequest
from hub.app import create_app
from tests.conftest import hub_settings

NORR, SYD = "SE2321000000-NORR", "SE2321000000-SYD"
DIG1, VC01, VC02 = "SE2321000000-DIG1", "SE2321000000-VC01", "SE2321000000-VC02"
ANNA = Clinician("SE2321000000-P001", Commission("SE2321000000-P001-digital-norr", DIG1, NORR),
                 given_name="Anna", family_name="Lind", profession="Sjuksköterska")
ERIK = Clinician("SE2321000000-P002", Commission("SE2321000000-P002-digital-norr", DIG1, NORR),
                 given_name="Erik", family_name="Berg", profession="Läkare")
ERIK_VC01 = Clinician("SE2321000000-P002", Commission("SE2321000000-P002-vc-norr", VC01, NORR),
                      given_name="Erik", family_name="Berg", profession="Läkare")
MARIA = Clinician("SE2321000000-P003", Commission("SE2321000000-P003-vc-syd", VC02, SYD), given_name="Maria")
# A colleague the directory does not know yet: claiming makes their Practitioner and PractitionerRole.
NILS = Clinician("SE2321000000-P009", Commission("SE2321000000-P009-digital-norr", DIG1, NORR),
                 given_name="Nils", family_name="Nyman", profession="Sjuksköterska")
TOLVAN = Citizen("191212121212", "Tolvan", "Tolvansson")
ANDERS = Citizen("198112189876", "Anders", "Testsson")
LILLY_PNR = "201401022387"


@dataclass
class WorkflowHub:
    """The app's client and helpers to act as someone and to open cases."""

    client: TestClient

    @property
    def hub(self) -> Any:
        return self.client.app.state.hub  # type: ignore[attr-defined]

    def headers(self, principal: Any) -> dict[str, str]:
        tokens = self.client.app.state.auth.tokens  # type: ignore[attr-defined]
        scope = "user/*.cruds patient/*.cruds openid"
        issued = tokens.issue(principal, Scopes.parse(scope), client_id="test", now=datetime.now(UTC))
        return {"Authorization": f"Bearer {issued.token}"}

    def op(self, principal: Any, path: str, **params: Any) -> Any:
        """POST an operation with Parameters built from keyword arguments (value[x] by Python type)."""
        parameter = []
        for name, value in params.items():
            key = "valueReference" if isinstance(value, dict) and "reference" in value else (
                "valueIdentifier" if isinstance(value, dict) else "valueString")
            parameter.append({"name": name.replace("_", "-"), key: value})
        return self.client.post(f"/fhir/{path}", headers=self.headers(principal),
                                json={"resourceType": "Parameters", "parameter": parameter})

    def get(self, principal: Any, path: str) -> Any:
        return self.client.get(f"/fhir/{path}", headers=self.headers(principal))

    def id_of(self, res_type: str, identifier: str) -> str:
        """Return the id of a directory resource or Patient by its HSA-id or personnummer."""
        system = PERSONNUMMER_SYSTEM if res_type == "Patient" else HSA_SYSTEM
        with self.hub.fhir.unit_of_work(False) as conn:
            found = self.hub.fhir.matcher.ids(conn, res_type, [("identifier", f"{system}|{identifier}")])
        assert found, f"{res_type} {identifier} is not in the demo data"
        return str(found[0])

    def write(self, resource: dict[str, Any]) -> str:
        """Create a resource as the hub itself, through the server (so its listeners run)."""
        resp = self.hub.fhir.handle(FhirRequest("POST", resource["resourceType"], body=resource,
                                                caller=HubItself()))
        assert resp.status == 201, resp.body
        body = resp.json()
        assert body is not None
        return str(body["id"])

    def open_case(self, pnr: str = TOLVAN.person_id, unit: str = DIG1, disposition: str = "within-24h",
                  competence: str = "nurse", arrived: datetime | None = None,
                  answer_by: datetime | None = None, author: str | None = None) -> tuple[str, str]:
        """Open a waiting case as intake does; return (Task id, Encounter id)."""
        patient = f"Patient/{self.id_of('Patient', pnr)}"
        response: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "status": "completed",
                                    "subject": {"reference": patient}}
        if author:
            response["author"] = {"reference": author}
        qr = self.write(response)
        now = arrived or datetime.now(UTC)
        routing = Routing("waiting-room", unit, competence, answer_by or now + timedelta(hours=24))
        intake = Intake(patient, f"QuestionnaireResponse/{qr}", disposition, competence, "complaint-cough",
                        "Hosta", (), routing, f"Organization/{self.id_of('Organization', unit)}", now)
        encounter = self.write(encounter_for(intake))
        task = self.write(task_for(intake, f"Encounter/{encounter}"))
        return task, encounter


def workflow_hub(database_url: str) -> Iterator[WorkflowHub]:
    """Yield the hub over the database, with the demo directory loaded."""
    app = create_app(hub_settings(database_url, access_control=True, demo_data=True))
    with TestClient(app, base_url="http://hub.test") as client:
        yield WorkflowHub(client)

