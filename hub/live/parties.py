"""Decide who may join an encounter's conversation, and write what they do in it through the FHIR server.

Joining is a read of the Encounter through the FHIR server as the caller, so the PDL guard
decides it (a hidden encounter is 404, as over REST) and writes the AuditEvent for it. Then
only the two parties are let in: the citizen whose Patient is the subject, or a guardian the
population register confirms, and the clinician who has claimed the case. Messages and chat
events are created as the caller (validated, access-checked, audited); receipts are written
by the hub itself, since a citizen may not update a Communication, after checking that the
caller is the message's recipient. All of this is blocking database work, run in a thread.
https://hl7.org/fhir/R4/communication.html, https://hl7.org/fhir/R4/encounter.html
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cases.principals import Citizen, Clinician, Guardian
from communication.chat import (
    ChatRefused,
    chat_event,
    chat_is_open,
    chat_message,
    encounter_of,
    from_citizen,
    with_receipt,
)
from fhir_api.messages import FhirRequest
from fhir_api.outcomes import BadRequest, Forbidden, NotFound
from fhir_api.server import FhirServer
from hub.access.caller import Caller, hub_caller
from hub.access.guard import PdlGuard
from hub.access.resolve import patient_ids
from hub.live.store import LiveStore

CITIZEN, CLINICIAN = "citizen", "clinician"


@dataclass(frozen=True)
class Party:
    """One side of an encounter's conversation: who, as which reference, talking to whom."""

    role: str
    encounter_id: str
    subject: str
    me: str
    other: str
    unit: str | None


def _ref_id(value: Any, res_type: str) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else None
    prefix = f"{res_type}/"
    return ref[len(prefix):] if isinstance(ref, str) and ref.startswith(prefix) else None


class Conversations:
    """Admit parties and carry out what they do, over one FHIR server."""

    def __init__(self, server: FhirServer, store: LiveStore) -> None:
        self.server = server
        self.store = store

    @property
    def guard(self) -> PdlGuard | None:
        """Return the PDL guard, when access control is on."""
        guard = self.server.guard
        return guard if isinstance(guard, PdlGuard) else None

    def admit(self, caller: Caller, encounter_id: str) -> Party:
        """Return the caller's side of the encounter; raise NotFound or Forbidden when they have none."""
        if self.guard is not None:  # the guarded, audited read decides visibility as REST would
            self.server.handle(FhirRequest(method="GET", path=f"Encounter/{encounter_id}", caller=caller))
        with self.server.engine.connect() as conn:
            encounter = self.store.read(conn, "Encounter", encounter_id)
            if encounter is None:
                raise NotFound(f"Encounter/{encounter_id} is not known", ("Encounter",))
            subject_id = _ref_id(encounter.get("subject"), "Patient")
            if subject_id is None:
                raise Forbidden("This encounter has no patient to talk with")
            subject = f"Patient/{subject_id}"
            unit = _ref_id(encounter.get("serviceProvider"), "Organization")
            claim = self.store.claim(conn, encounter_id)
            actor = caller.principal
            if isinstance(actor, Citizen | Guardian):
                own, reach = self._citizen_patients(conn, caller)
                if subject_id not in reach:
                    raise Forbidden("Only the patient, or a guardian acting for them, can join this conversation")
                # A parent writes as themselves, not as the child, when the register knows them.
                me = subject if subject_id in own or not own else f"Patient/{own[0]}"
                other = f"PractitionerRole/{claim.role_id}" if claim else (f"Organization/{unit}" if unit else "")
                return Party(CITIZEN, encounter_id, subject, me, other, unit)
            if isinstance(actor, Clinician):
                if claim is None or actor.employee_hsa_id not in self.store.role_practitioner_hsa(conn, claim.role_id):
                    raise Forbidden("Only the clinician who has claimed this case can join its conversation")
                return Party(CLINICIAN, encounter_id, subject, f"PractitionerRole/{claim.role_id}", subject, unit)
        raise Forbidden("Only the patient and the clinician who holds the case can join its conversation")

    def _citizen_patients(self, conn: Any, caller: Caller) -> tuple[tuple[str, ...], tuple[str, ...]]:
        actor = caller.principal
        person = actor.citizen.person_id if isinstance(actor, Guardian) else getattr(actor, "person_id", "")
        if self.guard is not None:
            view = self.guard.view(conn, caller)
            return tuple(view.own), tuple(view.compartment)
        own = patient_ids(conn, [person])
        return own, own

    def still_party(self, caller: Caller, party: Party) -> bool:
        """Tell whether a clinician still holds the case (a release or handover ends their part)."""
        if party.role != CLINICIAN:
            return True
        with self.server.engine.connect() as conn:
            claim = self.store.claim(conn, party.encounter_id)
            return claim is not None and f"PractitionerRole/{claim.role_id}" == party.me

    def chat_state(self, party: Party) -> dict[str, Any]:
        """Return whether the citizen may write now, and why not."""
        with self.server.engine.connect() as conn:
            encounter = self.store.read(conn, "Encounter", party.encounter_id) or {}
            is_open, why = chat_is_open(encounter.get("status"), self.store.chat_events(conn, party.encounter_id))
        return {"open": is_open, "reason": why or None}

    def send(self, caller: Caller, party: Party, text: Any, now: datetime | None = None) -> dict[str, Any]:
        """Create a chat message as the caller; return the stored Communication."""
        try:
            resource = chat_message(encounter_id=party.encounter_id, subject=party.subject, sender=party.me,
                                    recipient=party.other or party.subject, text=text,
                                    now=now or datetime.now(UTC))
        except ChatRefused as exc:
            raise BadRequest(str(exc), ("payload",)) from None
        return self._create(caller, party, resource)

    def chat_step(self, caller: Caller, party: Party, code: str, now: datetime | None = None) -> dict[str, Any]:
        """End or open the chat again; only the clinician may."""
        if party.role != CLINICIAN:
            raise Forbidden("Only the clinician can end or open the chat")
        resource = chat_event(encounter_id=party.encounter_id, subject=party.subject, sender=party.me, code=code,
                              now=now or datetime.now(UTC))
        return self._create(caller, party, resource)

    def _create(self, caller: Caller, party: Party, resource: dict[str, Any]) -> dict[str, Any]:
        req = FhirRequest(method="POST", path="Communication", body=resource, caller=caller,
                          headers={"prefer": "return=representation"})
        with self.server.unit_of_work(True) as conn:
            self.store.lock_encounter(conn, party.encounter_id)
            resp = self.server.dispatch(conn, req)
        return resp.json() or {}

    def receipt(self, party: Party, communication_id: Any, kind: str, now: datetime | None = None) -> bool:
        """Mark a message delivered or read by its recipient; False when nothing changed."""
        if not isinstance(communication_id, str) or not communication_id:
            raise BadRequest("A receipt needs the message's 'id'", ("id",))
        with self.server.unit_of_work(True) as conn:
            stored = self.server.repo.read(conn, "Communication", communication_id)
            current = stored.json() if stored is not None and not stored.deleted else None
            if current is None or encounter_of(current) != party.encounter_id:
                raise NotFound(f"Communication/{communication_id} is not a message of this conversation", ("id",))
            if from_citizen(current) == (party.role == CITIZEN):
                raise Forbidden("Only the recipient of a message can mark it delivered or read")
            try:
                updated = with_receipt(current, kind, now or datetime.now(UTC))
            except ChatRefused as exc:
                raise BadRequest(str(exc), ("type",)) from None
            if updated is None:
                return False
            assert stored is not None
            self.server.dispatch(conn, FhirRequest(method="PUT", path=f"Communication/{communication_id}",
                                                   body=updated, caller=hub_caller(),
                                                   headers={"if-match": stored.etag}))
        return True
