"""Transfer cases between Ingång hubs: `Task/[id]/$transfer-out` here, `Organization/[id]/$receive-transfer` there.

Sending: the clinician's `$transfer-out` (parameters `hub`, `unit`, `reason`) takes the
state machine's transfer-out step (the case is over here, and read-only), records a
Provenance and enqueues a `hub-transfer` message, all in one transaction. The outbox
handler re-reads the case, builds the transaction (cases/hub_transfer.py), finds the unit at
the peer by HSA-id and posts the case there with a SMART Backend Services token; the peer's
Task is then noted on the local Task. Receiving: the peer's system client (listed in
`accept_from`) posts to the unit's `$receive-transfer`; every entry is a conditional create
on its business identifier, run in this hub's one unit of work, so a repeated transfer
creates nothing new; the Task waits in the unit's waiting room, with a Provenance of where
it came from.
https://hl7.org/fhir/R4/operations.html, https://hl7.org/fhir/R4/provenance.html
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import Connection

from cases.hub_transfer import (
    ORIGIN_SYSTEM,
    CaseToTransfer,
    TransferRefused,
    check_transfer_bundle,
    rewrite_received,
    transfer_bundle,
    transfer_in_record,
    transfer_out_record,
    waiting_at,
)
from cases.intake import CASE_STATE_SYSTEM
from cases.lifecycle import NotACase, State, Step, state_of
from cases.principals import HSA_SYSTEM, Clinician, RegionalSystem
from fhir_api.interactions import check_id, version_headers
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.operations import parameter
from fhir_api.outcomes import BadRequest, Conflict, Forbidden
from fhir_api.server import FhirServer, Operation
from fhir_api.store.repository import Stored, new_id
from hub.case_people import CasePeople, principal_of
from hub.case_steps import CaseSteps
from hub.case_wiring import role_of
from hub.outbox import GiveUp, OutboxMessage, RetryLater, enqueue
from hub.settings import Settings
from hub.transfer_peer import PeerClient, PeerConfigError, PeerHubs, load_peer_hubs

log = logging.getLogger("ingang.transfer")
KIND = "hub-transfer"
SENT_CODE = "hub-transfer"
# Instance operations the guard lets clinicians and regional systems run on cases they see.
TRANSFER_OPERATIONS = frozenset({"transfer-out"})


def _text(body: Any, name: str) -> str | None:
    value = parameter(body, name)
    if isinstance(value, dict):
        value = value.get("value") or value.get("text")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node["reference"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


class HubTransfers:
    """The two operations and the outbox handler, over one hub's store."""

    def __init__(self, server: FhirServer, peers: PeerHubs, *, sender_base: str, sender_name: str = "Ingång",
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.server, self.repo, self.peers = server, server.repo, peers
        self.sender_base, self.sender_name, self.clock = sender_base.rstrip("/"), sender_name, clock
        self.steps, self.people = CaseSteps(server, clock=clock), CasePeople(server)
        self.clients: dict[str, PeerClient] = {}

    # -- sending: the operation ---------------------------------------------------------------
    def transfer_out(self, conn: Connection, req: FhirRequest, _t: str | None, task_id: str | None) -> FhirResponse:
        """Move the case to a unit of another hub: close it here, record why, and enqueue the transfer."""
        values = {name: _text(req.body, name) for name in ("hub", "unit", "reason")}
        for name, value in values.items():
            if value is None:
                raise BadRequest(f"$transfer-out needs the parameter '{name}'", (f"Parameters.parameter.{name}",))
        hub, unit, reason = str(values["hub"]), str(values["unit"]), str(values["reason"])
        if hub not in self.peers.peers:
            known = ", ".join(sorted(self.peers.peers)) or "none are configured"
            raise BadRequest(f"hub '{hub}' is not a peer hub of this one ({known})", ("Parameters.parameter.hub",))
        case = self.steps.load(conn, task_id or "", str(Step.TRANSFER_OUT))
        self.people.require_writer(conn, req, case)
        source = self.people.unit_of(conn, case)
        principal = principal_of(req)

        def record(task: dict[str, Any]) -> None:
            task["statusReason"] = {"text": f"Flyttat till {unit} (hubben {hub}): {reason}"}

        stored = self.steps.take(conn, case, Step.TRANSFER_OUT, role_of(principal), edit=record)
        self.repo.create(conn, transfer_out_record(
            task_ref=f"Task/{stored.res_id}/_history/{stored.version_id}",
            encounter_ref=f"Encounter/{case.encounter.res_id}" if case.encounter else None,
            performer=_performer(principal), source_unit=f"Organization/{source}" if source else None,
            hub_name=hub, unit_hsa=unit, reason=reason, now=self.clock()))
        enqueue(conn, kind=KIND, key=f"Task/{stored.res_id}/_history/{stored.version_id}",
                payload={"task": stored.res_id, "version": stored.version_id, "hub": hub, "unit": unit})
        return FhirResponse(200, stored.content, version_headers(stored, req.base_url))

    # -- sending: the outbox handler -------------------------------------------------------
    def handle(self, message: OutboxMessage) -> str | None:
        """Post one transferred case to its peer hub; return the peer's Task reference."""
        task_id, hub, unit = str(message.payload["task"]), str(message.payload["hub"]), str(message.payload["unit"])
        peer = self.peers.peers.get(hub)
        if peer is None:
            raise GiveUp(f"hub {hub} is no longer a configured peer; add it back and replay the message")
        with self.server.unit_of_work(False) as conn:
            task = self._json(conn, f"Task/{task_id}")
            if task is None:
                raise GiveUp(f"Task/{task_id} no longer exists")
            if _sent(task) is not None:
                return f"already sent: {_sent(task)}"
            try:
                if state_of(task) is not State.TRANSFERRED_OUT:
                    return f"skipped: Task/{task_id} is no longer transferred out"
            except NotACase:
                return f"skipped: Task/{task_id} is no longer a case"
            case = self.read_case(conn, task)
        bundle = transfer_bundle(case, sender_base=self.sender_base, sender_name=self.sender_name)
        client = self.clients.get(hub) or self.clients.setdefault(hub, PeerClient(peer))
        answer = client.send(client.unit_id(unit), bundle)
        remote = next((str(e.get("response", {}).get("location", "")).split("/_history")[0]
                       for e in answer.get("entry") or [] if "/Task/" in f"/{e.get('response', {}).get('location', '')}"),
                      "")
        self._confirm(task_id, f"{peer.fhir_base}/{remote}" if remote else peer.fhir_base, hub)
        return remote or "sent"

    def _json(self, conn: Connection, ref: Any) -> dict[str, Any] | None:
        if not isinstance(ref, str) or ref.count("/") != 1:
            return None
        res_type, res_id = ref.split("/")
        stored = self.repo.read(conn, res_type, res_id)
        return stored.json() if stored is not None and not stored.deleted else None

    def read_case(self, conn: Connection, task: dict[str, Any]) -> CaseToTransfer:
        """Read the case's resources as they are now, and what to keep of the references that stay here."""
        encounter = self._json(conn, (task.get("encounter") or {}).get("reference"))
        patient = self._json(conn, (task.get("for") or {}).get("reference"))
        if encounter is None or patient is None:
            raise GiveUp(f"Task/{task.get('id')} names no Encounter or Patient that exists")
        enc = [("encounter", f"Encounter/{encounter['id']}")]
        chat = [self._json(conn, f"Communication/{i}") for i in self.server.matcher.ids(conn, "Communication", enc)]
        media = [m for m in (self._json(conn, f"Media/{i}") for i in self.server.matcher.ids(conn, "Media", enc)) if m]
        binaries = [b for b in (self._json(conn, str((m.get("content") or {}).get("url") or "")) for m in media) if b]
        response = self._json(conn, (task.get("focus") or {}).get("reference"))
        carried: list[dict[str, Any]] = [task, encounter, patient, *([response] if response else []),
                                         *[c for c in chat if c], *media, *binaries]
        return CaseToTransfer(task=task, encounter=encounter, patient=patient, response=response,
                              communications=[c for c in chat if c], media=media, binaries=binaries,
                              describe=self._describe(conn, carried))

    def _describe(self, conn: Connection, resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Say who the sender's staff and units are, by HSA-id and name, for references that stay here."""
        out: dict[str, dict[str, Any]] = {}
        for ref in {r for resource in resources for r in _refs(resource)}:
            if not ref.startswith(("Organization/", "PractitionerRole/", "Practitioner/")):
                continue
            found = self._json(conn, ref) or {}
            hsa = next((i for i in found.get("identifier") or [] if i.get("system") == HSA_SYSTEM), None)
            name = found.get("name") if isinstance(found.get("name"), str) else (found.get("practitioner") or {}).get("display")
            kept: dict[str, Any] = {"identifier": {"system": HSA_SYSTEM, "value": hsa["value"]}} if hsa else {}
            if name:
                kept["display"] = str(name)
            out[ref] = kept
        return out

    def _confirm(self, task_id: str, remote: str, hub: str) -> None:
        try:
            with self.server.unit_of_work(True) as conn:
                stored = self.repo.read(conn, "Task", task_id)
                if stored is None or stored.deleted or _sent(stored.json()) is not None:
                    return
                task = stored.json()
                task.pop("meta", None)
                task.setdefault("output", []).append({
                    "type": {"coding": [{"system": CASE_STATE_SYSTEM, "code": SENT_CODE}],
                             "text": f"Mottaget av hubben {hub}"},
                    "valueReference": {"reference": remote}})
                self.repo.update(conn, stored, task)
        except Conflict:
            raise RetryLater(f"Task/{task_id} changed while the transfer was recorded; the peer has the case") from None

    # -- receiving ------------------------------------------------------------------------
    def receive(self, conn: Connection, req: FhirRequest, _t: str | None, unit_id: str | None) -> FhirResponse:
        """Take in a case another hub transferred to this unit; a repeat of the same transfer creates nothing."""
        principal = principal_of(req)
        if self.server.guard is not None and not (
                isinstance(principal, RegionalSystem) and principal.client_id in self.peers.accept_from):
            raise Forbidden("Only a peer hub listed in this hub's accept_from may transfer cases here")
        try:
            entries = check_transfer_bundle(req.body)
            response = self._receive(conn, entries, f"Organization/{unit_id}", getattr(principal, "client_id", "-"))
        except TransferRefused as exc:
            raise BadRequest(exc.message, (exc.where,)) from None
        if isinstance(principal, RegionalSystem):
            self._audit(conn, req, principal, response, unit_id)
        return response

    def _audit(self, conn: Connection, req: FhirRequest, principal: RegionalSystem, response: FhirResponse,
               unit_id: str | None) -> None:
        """Log the peer's write of patient data here (PDL), as the guard logs any other access."""
        from hub.access.audit import AccessRecord, audit_event

        locations = [str(e["response"]["location"]) for e in (response.json() or {}).get("entry") or []]
        patients = [loc.split("/")[1] for loc in locations if loc.startswith("Patient/")]
        record = AccessRecord(principal=principal, interaction="create",
                              address=str(getattr(req.caller, "address", "") or ""), recorded=self.clock(),
                              what=locations, patients=patients, unit_id=unit_id)
        self.repo.create(conn, audit_event(record))

    def _receive(self, conn: Connection, entries: list[dict[str, Any]], unit_ref: str, sender: str) -> FhirResponse:
        from fhir_api.validation import validate_resource

        assigned: dict[str, str] = {}
        existing: set[str] = set()
        for i, entry in enumerate(entries):
            resource, request = entry["resource"], entry["request"]
            res_type = resource["resourceType"]
            if res_type == "Binary":
                check_id(str(resource.get("id")))
                ref = f"Binary/{resource['id']}"
                found = self.repo.read(conn, "Binary", resource["id"])
                ids = [resource["id"]] if found is not None and not found.deleted else []
            else:
                ids = self.server.matcher.ids(conn, res_type, parse_qsl(request["ifNoneExist"]))
                if len(ids) > 1:
                    raise TransferRefused(f"{request['ifNoneExist']} matches {len(ids)} {res_type}s here",
                                          f"Bundle.entry[{i}].request.ifNoneExist")
                ref = f"{res_type}/{ids[0] if ids else new_id()}"
            assigned[entry["fullUrl"]] = ref
            if ids:
                existing.add(entry["fullUrl"])
        bodies = {e["fullUrl"]: rewrite_received(e["resource"], assigned) for e in entries if e["fullUrl"] not in existing}
        now = self.clock()
        task_url = next(e["fullUrl"] for e in entries if e["resource"]["resourceType"] == "Task")
        enc_url = next((e["fullUrl"] for e in entries if e["resource"]["resourceType"] == "Encounter"), None)
        if task_url in bodies:
            encounter = bodies.get(enc_url) if enc_url else None
            bodies[task_url], moved = waiting_at(bodies[task_url], encounter, unit_ref, now)
            if enc_url and moved is not None:
                bodies[enc_url] = moved
        out = []
        for i, entry in enumerate(entries):
            ref = assigned[entry["fullUrl"]]
            if entry["fullUrl"] in bodies:
                body = bodies[entry["fullUrl"]]
                body.pop("id", None)
                try:
                    validate_resource(body, body["resourceType"])
                except BadRequest as exc:
                    raise TransferRefused(f"{body['resourceType']} does not validate: {exc.diagnostics}",
                                          f"Bundle.entry[{i}].resource") from None
                stored = self.repo.create(conn, body, ref.split("/")[1])
                out.append(_answer(stored, "201 Created"))
            else:
                current = self.repo.read(conn, *ref.split("/"))
                assert current is not None
                out.append(_answer(current, "200 OK"))
        if task_url in bodies:
            origin = next((i.get("value") for i in bodies[task_url].get("identifier") or []
                           if i.get("system") == ORIGIN_SYSTEM), "")
            self.repo.create(conn, transfer_in_record(task_ref=assigned[task_url], encounter_ref=assigned.get(enc_url or ""),
                                                      unit_ref=unit_ref, sender=sender, origin=str(origin), now=now))
        return FhirResponse(200, {"resourceType": "Bundle", "type": "transaction-response", "entry": out})


def _answer(stored: Stored, status: str) -> dict[str, Any]:
    return {"response": {"status": status, "location": f"{stored.res_type}/{stored.res_id}/_history/{stored.version_id}",
                         "etag": f'W/"{stored.version_id}"'}}


def _sent(task: dict[str, Any]) -> str | None:
    for output in task.get("output") or []:
        if any(c.get("code") == SENT_CODE for c in (output.get("type") or {}).get("coding") or []):
            return str((output.get("valueReference") or {}).get("reference") or "sent")
    return None


def _performer(principal: Any) -> dict[str, Any]:
    if isinstance(principal, Clinician):
        name = " ".join(p for p in (principal.given_name, principal.family_name) if p)
        who: dict[str, Any] = {"identifier": {"system": HSA_SYSTEM, "value": principal.employee_hsa_id}}
        return {**who, "display": name} if name else who
    if isinstance(principal, RegionalSystem):
        return {"identifier": {"system": "urn:ietf:params:oauth:client-id", "value": principal.client_id}}
    return {"display": "Ingång"}


def register_transfers(server: FhirServer, outbox: Any, settings: Settings) -> HubTransfers:
    """Register `$transfer-out` on Task, `$receive-transfer` on Organization, and the `hub-transfer` handler."""
    from hub.auth.wiring import DEV_BASE_URL

    try:
        peers = load_peer_hubs(settings.peer_hubs_file) if settings.peer_hubs_file else PeerHubs()
    except PeerConfigError as exc:
        raise SystemExit(f"configuration error: INGANG_PEER_HUBS_FILE: {exc}") from None
    transfers = HubTransfers(server, peers, sender_base=settings.base_url or DEV_BASE_URL)
    server.add_operation(Operation(
        name="transfer-out", handler=transfers.transfer_out, types=frozenset({"Task"}), type_level=False,
        instance_level=True, writes=True, idempotent=False,
        documentation="Move a case to a unit served by another Ingång hub: parameters 'hub' (a configured peer "
                      "hub's name), 'unit' (the unit's HSA-id there) and 'reason'. The case ends here "
                      "(transferred-out), a Provenance records it, and the outbox posts it to the peer"))
    server.add_operation(Operation(
        name="receive-transfer", handler=transfers.receive, types=frozenset({"Organization"}), type_level=False,
        instance_level=True, writes=True, idempotent=False,
        documentation="For peer hubs: take in a case as a transaction Bundle of conditional creates on business "
                      "identifiers; the Task waits in this unit's waiting room. A repeat creates nothing new"))
    outbox.register(KIND, transfers.handle)
    return transfers

