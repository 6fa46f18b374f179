"""Offer the triage engine as the SDC `$next-question` operation on Questionnaire.

Without a subject the assessment is anonymous and stores nothing. With a subject the caller
must be the logged-in citizen or their confirmed guardian; the response is saved as it grows,
and when it completes the case is opened (Encounter and Task, routed by the region's rules)
in the same transaction, once, however often the completed response is posted again.
https://hl7.org/fhir/uv/sdc/OperationDefinition-Questionnaire-next-question.html
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from cases.intake import Intake, encounter_for, guardian_person, region_of, task_for
from cases.principals import HSA_SYSTEM, Citizen, Guardian
from cases.region_files import RegionCatalog
from cases.routing import CaseToRoute, route
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, NotFound, Unauthorized
from fhir_api.server import FhirServer, Operation
from fhir_api.store.repository import Stored
from triage import PatientFacts, assessment_summary, evaluate, next_question
from triage.catalog import Catalog, load_catalog
from triage.dispositions import COMPETENCES
from triage.errors import TriageInputError

REGIONS_DIR = Path(__file__).resolve().parent.parent / "cases" / "regions"


def _response_of(body: Any) -> Any:
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        return next((p.get("resource") for p in body.get("parameter") or []
                     if isinstance(p, dict) and p.get("name") == "questionnaire-response"), None)
    return body


def _principal(caller: Any) -> Any:
    return getattr(caller, "principal", caller)


class CaseIntake:
    """Save a citizen's growing response and open the case when it completes."""

    def __init__(self, server: FhirServer, catalog: Catalog, regions: RegionCatalog) -> None:
        self.server, self.catalog, self.regions = server, catalog, regions

    def handle(self, conn: Connection, req: FhirRequest, _t: str | None, _i: str | None) -> FhirResponse:
        """Answer `$next-question`, anonymously or for a logged-in citizen."""
        response = _response_of(req.body)
        try:
            if not (isinstance(response, dict) and response.get("subject")):
                return FhirResponse(200, next_question(req.body, catalog=self.catalog))
            return self._for_subject(conn, req, response)
        except TriageInputError as exc:
            raise BadRequest(exc.message, (exc.location,)) from None

    def _patient(self, conn: Connection, req: FhirRequest, subject: Any) -> tuple[str, dict[str, Any]]:
        principal = _principal(req.caller)
        if not isinstance(principal, Citizen | Guardian):
            raise Unauthorized("A QuestionnaireResponse with a subject is saved for a logged-in citizen or "
                               "guardian only; log in, or leave out the subject for an anonymous assessment",
                               ("QuestionnaireResponse.subject",))
        ref = subject.get("reference") if isinstance(subject, dict) else None
        if not isinstance(ref, str) or not ref.startswith("Patient/") or ref.count("/") != 1:
            raise BadRequest("subject must be a reference like Patient/<id>", ("QuestionnaireResponse.subject",))
        stored = self.server.repo.read(conn, "Patient", ref.split("/")[1])
        wanted = principal.child_person_id if isinstance(principal, Guardian) else principal.person_id
        patient = stored.json() if stored and not stored.deleted else {}
        if wanted not in {i.get("value") for i in patient.get("identifier") or [] if isinstance(i, dict)}:
            # The same answer whether the patient is missing or someone else: nothing is revealed.
            raise NotFound(f"{ref} is not known, or not someone you may answer for", ("QuestionnaireResponse.subject",))
        return ref, patient

    def _for_subject(self, conn: Connection, req: FhirRequest, response: dict[str, Any]) -> FhirResponse:
        patient_ref, patient = self._patient(conn, req, response["subject"])
        current = self._stored_response(conn, response)
        if current is not None and current.json().get("status") == "completed":
            return FhirResponse(200, current.content)  # already a case: posting again opens no second one
        try:
            facts = PatientFacts.from_patient(patient, date.today())
        except TriageInputError as exc:
            raise BadRequest(exc.message, (exc.location,)) from None
        grown = next_question(req.body, catalog=self.catalog, patient=facts)
        grown["subject"] = {"reference": patient_ref}
        grown["author"] = {"reference": self._author(conn, _principal(req.caller), patient_ref)}
        grown.setdefault("authored", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if grown["status"] == "completed":
            _pending, assessment = evaluate(grown, catalog=self.catalog, patient=facts)
            if assessment is not None:
                saved = self._save(conn, current, grown)
                encounter_ref = self._open_case(conn, patient_ref, patient, f"QuestionnaireResponse/{saved.res_id}",
                                                assessment_summary(assessment), facts.age_years,
                                                grown["author"]["reference"])
                grown["encounter"] = {"reference": encounter_ref}
                current = self.server.repo.read(conn, "QuestionnaireResponse", saved.res_id)
        return FhirResponse(200, self._save(conn, current, grown).content)

    def _author(self, conn: Connection, principal: Any, patient_ref: str) -> str:
        """Return who answers: the Patient themselves, or the guardian's RelatedPerson (found or made).

        The logged-in person is the author whatever the posted response says, so the waiting
        room shows truthfully who is waiting for whom.
        """
        if not isinstance(principal, Guardian):
            return patient_ref
        adult = principal.citizen
        found = self.server.matcher.ids(conn, "RelatedPerson", [
            ("patient", patient_ref), ("identifier", f"{adult.identifier_system}|{adult.person_id}")])
        if found:
            return f"RelatedPerson/{sorted(found)[0]}"
        person = guardian_person(patient_ref, adult.identifier_system, adult.person_id,
                                 adult.given_name, adult.family_name)
        return f"RelatedPerson/{self.server.repo.create(conn, person).res_id}"

    def _stored_response(self, conn: Connection, response: dict[str, Any]) -> Stored | None:
        res_id = response.get("id")
        if not isinstance(res_id, str):
            return None
        stored = self.server.repo.read(conn, "QuestionnaireResponse", res_id)
        if stored is None or stored.deleted:
            raise NotFound(f"QuestionnaireResponse/{res_id} is not known", ("QuestionnaireResponse.id",))
        if stored.json().get("subject") != response.get("subject"):
            raise BadRequest("The response's subject does not match the one it was saved for",
                             ("QuestionnaireResponse.subject",))
        return stored

    def _save(self, conn: Connection, current: Stored | None, resource: dict[str, Any]) -> Stored:
        from fhir_api.validation import validate_resource

        validate_resource(resource, "QuestionnaireResponse")
        if current is None:
            return self.server.repo.create(conn, resource)
        resource["id"] = current.res_id
        return self.server.repo.update(conn, current, resource)

    def _open_case(self, conn: Connection, patient_ref: str, patient: dict[str, Any], response_ref: str,
                   summary: dict[str, Any], age: int, requester_ref: str | None = None) -> str:
        regions = self.regions.regions()
        region = self.regions.region(region_of(patient, {c: r.name for c, r in regions.items()}))
        now = datetime.now(UTC)
        routing = route(region, CaseToRoute(summary["disposition"], summary["competence"], summary["complaint"], age), now)
        unit_ref = self.unit_for(conn, region.units[routing.unit].name, routing.unit) if routing.unit else None
        intake = Intake(patient_ref, response_ref, summary["disposition"], summary["competence"],
                        summary["complaint"], summary["rationale"]["sv"],
                        tuple(r["id"] for r in summary["rules"]), routing, unit_ref, now, requester_ref)
        encounter = self.server.repo.create(conn, encounter_for(intake))
        encounter_ref = f"Encounter/{encounter.res_id}"
        self.server.repo.create(conn, task_for(intake, encounter_ref))
        return encounter_ref

    def unit_for(self, conn: Connection, name: str, hsa_id: str) -> str:
        """Return the unit's Organization, creating it from the region file if the directory lacks it."""
        found = self.server.matcher.ids(conn, "Organization", [("identifier", f"{HSA_SYSTEM}|{hsa_id}")])
        if found:
            return f"Organization/{found[0]}"
        org = self.server.repo.create(conn, {"resourceType": "Organization", "active": True, "name": name,
                                             "identifier": [{"system": HSA_SYSTEM, "value": hsa_id}]})
        return f"Organization/{org.res_id}"


def publish_protocols(server: FhirServer, catalog: Catalog) -> int:
    """Store each protocol as a Questionnaire (id = complaint code) when it is new or changed.

    So EHRs and reviewers read the protocols in force at `GET /fhir/Questionnaire`. Several
    processes may start at once; one that loses a race simply leaves the other's copy.
    """
    import orjson
    from sqlalchemy.exc import IntegrityError

    from fhir_api.outcomes import Conflict
    from triage import protocol_questionnaire

    changed = 0
    try:
        with server.unit_of_work(True) as conn:
            for code in sorted(catalog.protocols):
                wanted = {**protocol_questionnaire(catalog.protocol(code), catalog.vocabulary), "id": code}
                current = server.repo.read(conn, "Questionnaire", code)
                if current is None:
                    server.repo.create(conn, wanted, code)
                elif current.deleted or {k: v for k, v in current.json().items() if k != "meta"} != (
                    orjson.loads(orjson.dumps(wanted))
                ):
                    server.repo.update(conn, current, wanted)
                else:
                    continue
                changed += 1
    except (Conflict, IntegrityError):
        return 0  # another process published them at the same moment
    return changed


def register_triage(server: FhirServer, *, regions_dir: Path | None = None,
                    catalog: Catalog | None = None) -> CaseIntake:
    """Load the triage catalog and the regions' rules; register `$next-question` and `$request-contact`.

    A protocol or region file that does not validate stops start-up, naming file and reason.
    """
    catalog = catalog or load_catalog()
    regions = RegionCatalog(regions_dir or REGIONS_DIR, frozenset(catalog.vocabulary.complaints),
                            frozenset(COMPETENCES))
    intake = CaseIntake(server, catalog, regions)
    publish_protocols(server, catalog)
    from hub.case_contact import register_request_contact  # routes with this intake's regions

    register_request_contact(server, intake)
    server.add_operation(Operation(
        name="next-question", handler=intake.handle, types=frozenset({"Questionnaire"}),
        type_level=True, instance_level=False, idempotent=False, writes=True,
        definition="http://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-next-question",
        documentation="Adaptive triage: post the QuestionnaireResponse so far, get it back with the next "
                      "question(s), or completed with the automatic assessment as an extension. With a "
                      "subject (logged-in citizen or guardian) it is saved and a completed one opens a case",
    ))
    return intake
