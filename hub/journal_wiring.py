"""Export a closed case's journal note to the region's journal, through the outbox, exactly once.

Closing a case (the Task turns completed with businessStatus `closed`) enqueues a
`journal-export` message in the closing's own transaction, keyed by the Task version that
closed it. The handler re-reads the case, builds the document (cases/journal_note.py),
validates it, and hands it to the VIS adapter of the case's region; the document's identifier
is derived from that same Task version, so every retry is the same document and the journal
files it once. Delivery is confirmed on the case: a DocumentReference with the journal's id
and time, and a Task.output pointing at it. A refusal is final (dead letter, with the
journal's reason); an outage is retried.
https://hl7.org/fhir/R4/documents.html
https://hl7.org/fhir/R4/documentreference.html
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from adapters.vis.port import Delivered, JournalExport, JournalRejected, JournalUnavailable
from cases.intake import CASE_STATE_SYSTEM
from cases.journal_note import ClosedCase, journal_document, note_identifier
from cases.lifecycle import NotACase, State, is_case_task, state_of
from cases.principals import HSA_SYSTEM
from fhir_api.changes import Change
from fhir_api.outcomes import Conflict, FhirError
from fhir_api.server import FhirServer
from fhir_api.store.repository import Stored
from hub.journal_config import build_exports, units_by_region
from hub.outbox import GiveUp, OutboxMessage, RetryLater, enqueue
from hub.settings import Settings

log = logging.getLogger("ingang.journal")
KIND = "journal-export"
DELIVERED_CODE = "journal-export"
JOURNAL_ID_SYSTEM = "https://ingang.example/fhir/NamingSystem/journal-receipt"


def _ref_id(ref: Any, res_type: str) -> str | None:
    value = ref.get("reference") if isinstance(ref, Mapping) else None
    if isinstance(value, str) and value.startswith(f"{res_type}/"):
        return value.split("/", 1)[1]
    return None


def is_closing(server: FhirServer, conn: Connection, change: Change) -> bool:
    """Tell whether a written Task version is a case turning closed (not a later edit of a closed one)."""
    if change.res_type != "Task" or change.method == "delete":
        return False
    task = change.json()
    try:
        if not is_case_task(task) or state_of(task) is not State.CLOSED:
            return False
    except NotACase:
        return False
    if change.version <= 1:
        return True
    before = server.repo.vread(conn, "Task", change.res_id, change.version - 1)
    try:
        return before is None or before.deleted or state_of(before.json()) is not State.CLOSED
    except NotACase:
        return True


def closed_at(task: Mapping[str, Any]) -> datetime | None:
    """Return when the case was closed: the end of the Task's execution period, else its last change."""
    for value in ((task.get("executionPeriod") or {}).get("end"), task.get("lastModified")):
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
            except ValueError:
                continue
    return None


@dataclass
class JournalExporter:
    """The `journal-export` outbox kind: what the listener enqueues and what the handler delivers."""

    server: FhirServer
    exports: dict[str, JournalExport]
    unit_regions: dict[str, str]
    fallback: JournalExport | None = None
    base_url: str = ""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    # -- in the closing's transaction --------------------------------------------------------
    def on_write(self, conn: Connection, changes: list[Change]) -> None:
        """Write listener: enqueue an export for every case this unit of work closed."""
        for change in changes:
            if is_closing(self.server, conn, change):
                enqueue(conn, kind=KIND, key=f"Task/{change.res_id}/_history/{change.version}",
                        payload={"task": change.res_id, "version": change.version})

    # -- the outbox handler ------------------------------------------------------------------
    def handle(self, message: OutboxMessage) -> str | None:
        """Deliver one closing's note; return the journal's id as the receipt."""
        task_id, version = str(message.payload["task"]), int(message.payload["version"])
        identifier = note_identifier(task_id, version)
        with self.server.unit_of_work(False) as conn:
            task = self._read(conn, "Task", task_id)
            if task is None:
                raise GiveUp(f"Task/{task_id} no longer exists")
            if self._confirmation(task.json(), identifier["value"]) is not None:
                return "already confirmed"
            try:
                if state_of(task.json()) is not State.CLOSED:
                    return f"skipped: Task/{task_id} is no longer closed"
            except NotACase:
                return f"skipped: Task/{task_id} is no longer a case"
            case = self.read_case(conn, task.json())
            region = self.region_of(conn, case)
        # Dated when the case was closed, so every attempt sends the very same document.
        document = journal_document(case, identifier=identifier, base_url=self.base_url,
                                    now=closed_at(case.task) or self.clock())
        self._validate(document)
        export = self.exports.get(region or "") or self.fallback
        if export is None:
            raise GiveUp(f"No journal is configured for region {region or '(unknown)'}; add it to INGANG_JOURNALS_FILE "
                         "and replay the message")
        try:
            receipt = export.deliver(document)
        except JournalUnavailable as exc:
            raise RetryLater(exc.reason, after=exc.retry_after) from None
        except JournalRejected as exc:
            raise GiveUp(exc.reason) from None
        self.confirm(task_id, identifier, receipt, region or "")
        return receipt.remote_id

    def _read(self, conn: Connection, res_type: str, res_id: str | None) -> Stored | None:
        stored = self.server.repo.read(conn, res_type, res_id) if res_id else None
        return stored if stored is not None and not stored.deleted else None

    def _json(self, conn: Connection, ref: Any, res_type: str) -> dict[str, Any] | None:
        stored = self._read(conn, res_type, _ref_id(ref, res_type))
        return stored.json() if stored else None

    def read_case(self, conn: Connection, task: dict[str, Any]) -> ClosedCase:
        """Read everything the note is made of, as it is now."""
        encounter = self._json(conn, task.get("encounter"), "Encounter")
        patient = self._json(conn, task.get("for"), "Patient")
        if encounter is None or patient is None:
            raise GiveUp(f"Task/{task.get('id')} names no Encounter or Patient that exists")
        enc_ref = f"Encounter/{encounter['id']}"
        chat = [self._json(conn, {"reference": f"Communication/{i}"}, "Communication")
                for i in self.server.matcher.ids(conn, "Communication", [("encounter", enc_ref)])]
        media = [self._json(conn, {"reference": f"Media/{i}"}, "Media")
                 for i in self.server.matcher.ids(conn, "Media", [("encounter", enc_ref)])]
        communications = [c for c in chat if c and c.get("status") != "entered-in-error"]
        author = self._json(conn, task.get("owner"), "PractitionerRole")
        custodian = (self._json(conn, encounter.get("serviceProvider"), "Organization")
                     or (self._json(conn, author.get("organization"), "Organization") if author else None)
                     or self._json(conn, task.get("owner"), "Organization"))
        return ClosedCase(task=task, encounter=encounter, patient=patient,
                          response=self._json(conn, task.get("focus"), "QuestionnaireResponse"),
                          communications=communications, media=[m for m in media if m], author=author,
                          custodian=custodian, names=self._names(conn, patient, communications))

    def _names(self, conn: Connection, patient: dict[str, Any], chat: list[dict[str, Any]]) -> dict[str, str]:
        names = {f"Patient/{patient['id']}": "Patient"}
        for message in chat:
            ref = str((message.get("sender") or {}).get("reference", ""))
            if ref.startswith("PractitionerRole/") and ref not in names:
                role = self._json(conn, {"reference": ref}, "PractitionerRole") or {}
                names[ref] = str((role.get("practitioner") or {}).get("display") or "Vårdpersonal")
            elif ref.startswith("RelatedPerson/"):
                names[ref] = "Vårdnadshavare"
        return names

    def region_of(self, conn: Connection, case: ClosedCase) -> str | None:
        """Return the region of the case's unit, from its HSA-id and the regions' files."""
        for identifier in (case.custodian or {}).get("identifier") or []:
            if isinstance(identifier, Mapping) and identifier.get("system") == HSA_SYSTEM:
                region = self.unit_regions.get(str(identifier.get("value")))
                if region:
                    return region
        return None

    @staticmethod
    def _validate(document: dict[str, Any]) -> None:
        from fhir_api.validation import validate_resource

        try:
            validate_resource(document, "Bundle")
        except FhirError as exc:
            # The note is built from stored, validated resources: this is a fault to look at, not to retry.
            raise GiveUp(f"the journal note does not validate: {exc.diagnostics}") from None

    @staticmethod
    def _confirmation(task: Mapping[str, Any], note_id: str) -> Mapping[str, Any] | None:
        for output in task.get("output") or []:
            codes = [c.get("code") for c in (output.get("type") or {}).get("coding") or [] if isinstance(c, Mapping)]
            ref = output.get("valueReference") or {}
            if DELIVERED_CODE in codes and (ref.get("identifier") or {}).get("value") == note_id:
                return output  # type: ignore[no-any-return]
        return None

    def confirm(self, task_id: str, identifier: Mapping[str, str], receipt: Delivered, region: str) -> None:
        """Record the delivery on the case: a DocumentReference, and a Task.output pointing at it."""
        try:
            with self.server.unit_of_work(True) as conn:
                task = self._read(conn, "Task", task_id)
                if task is None or self._confirmation(task.json(), identifier["value"]) is not None:
                    return
                doc_ref = self._document_reference(conn, task.json(), identifier, receipt, region)
                updated = task.json()
                updated.pop("meta", None)
                updated.setdefault("output", []).append({
                    "type": {"coding": [{"system": CASE_STATE_SYSTEM, "code": DELIVERED_CODE}],
                             "text": "Journalanteckning levererad"},
                    "valueReference": {"reference": doc_ref, "identifier": dict(identifier),
                                       "display": f"Levererad till journalen {receipt.received_at:%Y-%m-%d %H:%M} UTC"},
                })
                self.server.repo.update(conn, task, updated)
        except Conflict:
            raise RetryLater(f"Task/{task_id} changed while the delivery was recorded; the journal has it, "
                             "the confirmation is tried again") from None

    def _document_reference(self, conn: Connection, task: dict[str, Any], identifier: Mapping[str, str],
                            receipt: Delivered, region: str) -> str:
        found = self.server.matcher.ids(conn, "DocumentReference",
                                        [("identifier", f"{identifier['system']}|{identifier['value']}")])
        if found:
            return f"DocumentReference/{found[0]}"
        when = receipt.received_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        resource: dict[str, Any] = {
            "resourceType": "DocumentReference",
            "masterIdentifier": dict(identifier),
            "identifier": [{"system": f"{JOURNAL_ID_SYSTEM}/{region or 'default'}", "value": receipt.remote_id}],
            "status": "current",
            "type": {"coding": [{"system": "http://loinc.org", "code": "34109-9", "display": "Note"}]},
            "subject": task.get("for"),
            "date": when,
            "description": "Journalanteckning levererad till regionens journal",
            "content": [{"attachment": {"contentType": "application/fhir+json", "title": "Journalanteckning",
                                        "url": receipt.location or f"urn:journal:{receipt.remote_id}",
                                        "creation": when}}],
            "context": {"encounter": [task["encounter"]]},
        }
        return f"DocumentReference/{self.server.repo.create(conn, resource).res_id}"


def register_journal(server: FhirServer, outbox: Any, settings: Settings) -> JournalExporter:
    """Enqueue an export when a case closes, and deliver it with the `journal-export` handler."""
    from hub.auth.wiring import DEV_BASE_URL
    from hub.triage_wiring import REGIONS_DIR

    exports, fallback = build_exports(settings.journals_file, settings.mode)
    regions_dir = Path(settings.regions_dir) if settings.regions_dir else REGIONS_DIR
    exporter = JournalExporter(server, exports, units_by_region(regions_dir), fallback,
                               settings.base_url or DEV_BASE_URL)
    server.add_write_listener(exporter.on_write)
    outbox.register(KIND, exporter.handle)
    return exporter
