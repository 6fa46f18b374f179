"""Show a unit's waiting room to its staff, and a waiting citizen their place in it.

`Organization/{id}/$waiting-room` is a searchset Bundle of the unit's waiting Tasks in
waiting-room order (cases/waiting_room.py), each entry saying how long the case has waited,
for whom (the patient; the guardian when a guardian answered) and for what (the complaint's
Coding, named: hub/complaints.py), with the Encounter and Patient included. It reads the
queue rows (one index range) and then only the page's resources, so it costs the same with
100 or 100,000 open cases. Only the unit's own staff (or its region's systems) may list it;
the listing is logged as an access to each patient.
`Task/{id}/$queue-position` gives the place and an estimated wait.
https://hl7.org/fhir/R4/bundle.html, https://hl7.org/fhir/R4/task.html
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import Connection, select

from cases.access import HubItself
from cases.lifecycle import SHAPES, WAITING_STATES
from cases.principals import Clinician, RegionalSystem
from cases.waiting_room import decode_page_key, encode_page_key, estimated_wait, minutes, page_key
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, Forbidden
from fhir_api.raw import Raw
from fhir_api.server import FhirServer, Operation
from fhir_api.store.schema import resources
from hub.case_people import CasePeople, principal_of
from hub.case_steps import CaseSteps
from hub.complaints import complaint_of

EXTENSION_BASE = "https://ingang.example/fhir/StructureDefinition"
WAITING_TIME = f"{EXTENSION_BASE}/waiting-time"
WAITING_FOR = f"{EXTENSION_BASE}/waiting-for"
WAITING_PERSON = f"{EXTENSION_BASE}/waiting-person"
WAITING_COMPLAINT = f"{EXTENSION_BASE}/waiting-complaint"
DEFAULT_COUNT, MAX_COUNT = 50, 500


def _minutes(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}


def _query(req: FhirRequest, name: str) -> str | None:
    values = [v for k, v in req.query if k == name]
    if not values and isinstance(req.body, dict):
        from fhir_api.operations import parameter

        value = parameter(req.body, name)
        values = [str(value)] if value is not None else []
    return values[-1].strip() if values and values[-1].strip() else None


def _read_many(conn: Connection, res_type: str, ids: Sequence[str]) -> dict[str, str]:
    """Return the stored JSON of live resources of one type by id, in one query."""
    if not ids:
        return {}
    r = resources.c
    rows = conn.execute(select(r.res_id, r.content).where(r.res_type == res_type, r.res_id.in_(sorted(set(ids))),
                                                          r.deleted.is_(False))).all()
    return {row[0]: row[1] for row in rows if row[1]}


class WaitingRoom:
    """The handlers of `$waiting-room` and `$queue-position`."""

    def __init__(self, server: FhirServer, steps: CaseSteps, people: CasePeople) -> None:
        self.server, self.steps, self.people = server, steps, people

    def _may_list(self, conn: Connection, req: FhirRequest, unit_id: str) -> None:
        principal = principal_of(req)
        if principal is None or isinstance(principal, HubItself):
            return
        view = self.people.view(conn, req)
        if isinstance(principal, (Clinician, RegionalSystem)) and view is not None:
            units = {u for arm in view.writable.arms for u in arm.units}
            if unit_id in units:
                return
        raise Forbidden("Only the unit's own staff (or its region's systems) may see its waiting room")

    def listing(self, conn: Connection, req: FhirRequest, _t: str | None, unit_id: str | None) -> FhirResponse:
        """Return the unit's waiting cases, most urgent first, with Encounter and Patient included."""
        unit = unit_id or ""
        self._may_list(conn, req, unit)
        count_text = _query(req, "_count")
        if count_text is not None and not count_text.isdigit():
            raise BadRequest("_count must be a whole number", ("_count",))
        count = min(int(count_text), MAX_COUNT) if count_text is not None else DEFAULT_COUNT
        competence = _query(req, "competence")
        after_text = _query(req, "after")
        try:
            after = decode_page_key(after_text) if after_text is not None else None
        except ValueError as exc:
            raise BadRequest(f"after: {exc}; use the next link as given", ("after",)) from None
        queue = self.steps.queue
        rows = queue.waiting(conn, unit, competence, count + 1, after) if count else []
        more = len(rows) > count
        rows = rows[:count]
        tasks = _read_many(conn, "Task", [r.task_id for r in rows])
        encounters = _read_many(conn, "Encounter", [r.encounter_id for r in rows if r.encounter_id])
        patients = _read_many(conn, "Patient", [r.patient_id for r in rows if r.patient_id])
        answers = self._answerers(conn, tasks)
        # Named here, not stored: the Encounter keeps the code, and the names can be corrected.
        complaints = {i: complaint_of(orjson.loads(text)) for i, text in encounters.items()}
        now = self.steps.clock().astimezone(UTC).replace(tzinfo=None)
        base = req.base_url.rstrip("/")
        entries: list[dict[str, Any]] = []
        for row in rows:
            if row.task_id not in tasks:
                continue
            extension = [{"url": WAITING_TIME, "valueDuration": _minutes(minutes(now - row.waiting_since))}]
            if row.patient_id:
                extension.append({"url": WAITING_FOR, "valueReference": {"reference": f"Patient/{row.patient_id}"}})
            person = answers.get(row.task_id)
            if person is not None:
                extension.append({"url": WAITING_PERSON, "valueReference": person})
            complaint = complaints.get(row.encounter_id or "")
            if complaint is not None:
                extension.append({"url": WAITING_COMPLAINT, "valueCoding": complaint})
            entries.append({"fullUrl": f"{base}/Task/{row.task_id}", "extension": extension,
                            "resource": Raw(tasks[row.task_id]), "search": {"mode": "match"}})
        for kind, found in (("Encounter", encounters), ("Patient", patients)):
            entries += [{"fullUrl": f"{base}/{kind}/{i}", "resource": Raw(text), "search": {"mode": "include"}}
                        for i, text in found.items()]
        here = f"{base}/Organization/{unit}/$waiting-room?"
        query = [(k, v) for k, v in (("competence", competence), ("_count", str(count))) if v]
        links = [{"relation": "self", "url": here + urlencode(query + ([("after", after_text)] if after_text else []))}]
        if more:
            token = encode_page_key(page_key(rows[-1]))
            links.append({"relation": "next", "url": here + urlencode([*query, ("after", token)])})
        bundle = {"resourceType": "Bundle", "type": "searchset", "total": queue.count_waiting(conn, unit, competence),
                  "link": links, "entry": entries}
        self._log(conn, req, unit, [r.patient_id for r in rows if r.patient_id])
        return FhirResponse(200, bundle)

    def _answerers(self, conn: Connection, tasks: dict[str, str]) -> dict[str, dict[str, Any]]:
        """Return, per Task, who answered the triage questions when it was not the patient (a guardian)."""
        focus: dict[str, str] = {}
        for task_id, text in tasks.items():
            ref = (orjson.loads(text).get("focus") or {}).get("reference") or ""
            if ref.startswith("QuestionnaireResponse/"):
                focus[task_id] = ref.split("/", 1)[1]
        responses = _read_many(conn, "QuestionnaireResponse", list(focus.values()))
        out: dict[str, dict[str, Any]] = {}
        for task_id, qr in focus.items():
            author = orjson.loads(responses[qr]).get("author") if qr in responses else None
            if isinstance(author, dict) and str(author.get("reference", "")).startswith("RelatedPerson/"):
                out[task_id] = author
        return out

    def _log(self, conn: Connection, req: FhirRequest, unit: str, patients: list[str]) -> None:
        """Write the PDL AuditEvent of a listing: the guard logs patient-data types, not directory operations."""
        from hub.access.audit import AccessRecord, audit_event, query_text
        from hub.access.guard import PdlGuard

        principal, guard = principal_of(req), self.server.guard
        if not isinstance(guard, PdlGuard) or principal is None or isinstance(principal, HubItself) or not patients:
            return
        # Logged as the guard logs a search: the query and each patient shown, not every resource.
        record = AccessRecord(principal=principal, interaction="search", address=getattr(req.caller, "address", ""),
                              recorded=guard.clock(), patients=sorted(set(patients)), unit_id=unit,
                              query=query_text(f"Organization/{unit}/$waiting-room", req.query))
        if conn.get_execution_options().get("immediate"):  # already in a writing unit of work (POST)
            self.server.repo.create(conn, audit_event(record))
            return
        # A GET reads in a plain transaction: the log entry gets a unit of work of its own, and
        # if it cannot be written the listing fails (WAL lets it write beside the open read).
        with self.server.unit_of_work(True) as writing:
            self.server.repo.create(writing, audit_event(record))

    def position(self, conn: Connection, req: FhirRequest, _t: str | None, task_id: str | None) -> FhirResponse:
        """Return the case's state, and while it waits its place, the cases ahead and an estimated wait."""
        case = self.steps.load(conn, task_id or "", "queue-position")
        params: list[dict[str, Any]] = [{"name": "state", "valueCode": str(case.state)},
                                        {"name": "state-text", "valueString": SHAPES[case.state].text}]
        row = self.steps.queue.get(conn, case.task.res_id)
        if row is not None and case.state in WAITING_STATES:
            ahead = self.steps.queue.ahead_of(conn, row)
            now = self.steps.clock().astimezone(UTC).replace(tzinfo=None)
            params += [{"name": "position", "valueInteger": ahead + 1},
                       {"name": "waiting-since", "valueInstant": row.waiting_since.strftime("%Y-%m-%dT%H:%M:%SZ")},
                       {"name": "waited", "valueDuration": _minutes(minutes(now - row.waiting_since))}]
            estimate = estimated_wait(ahead + 1, self.steps.queue.recent_claims(conn, row.unit_id or ""), now)
            if estimate is not None:
                params.append({"name": "estimated-wait", "valueDuration": _minutes(minutes(estimate))})
        return FhirResponse(200, {"resourceType": "Parameters", "parameter": params})


def register_waiting_room(server: FhirServer, steps: CaseSteps, people: CasePeople) -> WaitingRoom:
    """Register `$waiting-room` on Organization and `$queue-position` on Task."""
    room = WaitingRoom(server, steps, people)
    server.add_operation(Operation(
        name="waiting-room", handler=room.listing, types=frozenset({"Organization"}), type_level=False,
        instance_level=True, writes=True, idempotent=True,
        documentation="A care unit's digital waiting room, for its own staff: a searchset Bundle of the waiting "
                      "Tasks ordered by priority (stat, asap, urgent, routine), then answer-by time "
                      "(restriction.period.end), then arrival; each entry has extensions waiting-time (minutes), "
                      "waiting-for (the Patient), waiting-person (the guardian who answered, when one did) and "
                      "waiting-complaint (the complaint's Coding: display in Swedish, the English as a translation "
                      "on _display); "
                      "Encounter and Patient included. Parameters: competence (code), _count (default 50, at most 500); "
                      "a 'next' link (parameter after, an opaque place in the order) gives the cases after the "
                      "page's last, however many have been claimed or have arrived meanwhile"))
    server.add_operation(Operation(
        name="queue-position", handler=room.position, types=frozenset({"Task"}), type_level=False,
        instance_level=True, writes=False, idempotent=True,
        documentation="For the waiting citizen (or staff): Parameters with the case's state and, while it waits, "
                      "position (1 = next), waiting-since, waited and estimated-wait (minutes: the number of "
                      "cases to be taken before it divided by the unit's claims per minute over the last two "
                      "hours, or the median wait of its last 20 claims; left out when the unit has none)"))
    return room

