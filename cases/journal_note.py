"""Build the journal note of a closed case: a FHIR document Bundle the region's journal can file.

The note is what a clinician would otherwise type into the journal by hand after a digital
contact: what the citizen answered, what the automatic assessment said and why, the chat, the
photos, and the clinician's own text. It is a document (a Composition first, then everything
it points at) so the receiving system gets one signed-off, self-contained unit it can file
whole. The type is LOINC 34109-9 "Note": the contact was started by the citizen, not asked
for by another clinician, so 11488-4 "Consult note" would say the wrong thing, and the
author may be a nurse, doctor or psychologist, so no profession-specific note fits every
case. Narrative is Swedish, the journal's language. This module is pure: the hub reads the
resources and validates the result.
https://hl7.org/fhir/R4/documents.html
https://hl7.org/fhir/R4/composition.html
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from cases.intake import CASE_STATE_SYSTEM

LOINC = "http://loinc.org"
NOTE_TYPE = {"system": LOINC, "code": "34109-9", "display": "Note"}
NOTE_IDENTIFIER_SYSTEM = "https://ingang.example/fhir/NamingSystem/journal-note"
# The sections, in reading order: LOINC codes where one says exactly this, else the hub's own.
SECTION_SYSTEM = "https://ingang.example/fhir/CodeSystem/journal-section"
SECTIONS = {
    "answers": ("Patientens svar på symptomfrågor", {"system": LOINC, "code": "10154-3",
                                                   "display": "Chief complaint Narrative - Reported"}),
    "assessment": ("Automatisk bedömning", {"system": SECTION_SYSTEM, "code": "automatic-assessment"}),
    "chat": ("Chatt med patienten", {"system": SECTION_SYSTEM, "code": "chat-transcript"}),
    "photos": ("Bilder", {"system": SECTION_SYSTEM, "code": "photos"}),
    "clinician": ("Vårdpersonalens anteckning", {"system": LOINC, "code": "51847-2",
                                                 "display": "Evaluation + Plan note"}),
}
DISPOSITION_SV = {
    "emergency-112": "Ring 112", "emergency-department": "Akutmottagning", "urgent": "Brådskande",
    "within-24h": "Inom ett dygn", "within-week": "Inom en vecka", "self-care": "Egenvård",
}
OUTPUT_LABEL_SV = {"disposition": "Bedömning", "competence": "Kompetens", "rationale": "Motivering",
                   "rules-fired": "Regler som utlöstes"}


@dataclass(frozen=True)
class ClosedCase:
    """The stored resources of one closed case, as the hub read them (dicts with ids)."""

    task: Mapping[str, Any]
    encounter: Mapping[str, Any]
    patient: Mapping[str, Any]
    response: Mapping[str, Any] | None = None
    communications: Sequence[Mapping[str, Any]] = ()
    media: Sequence[Mapping[str, Any]] = ()
    author: Mapping[str, Any] | None = None  # the clinician's PractitionerRole
    custodian: Mapping[str, Any] | None = None  # the care unit's Organization
    names: Mapping[str, str] = field(default_factory=dict)  # reference -> display, for the chat


def note_identifier(task_id: str, task_version: int) -> dict[str, str]:
    """Return the document's business identifier: the same for every retry of one closing."""
    return {"system": NOTE_IDENTIFIER_SYSTEM, "value": f"Task-{task_id}-{task_version}"}


def _ref(resource: Mapping[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def _div(body: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


def _list(items: Iterable[str], empty: str) -> str:
    rows = [f"<li>{item}</li>" for item in items]
    return f"<ul>{''.join(rows)}</ul>" if rows else f"<p>{escape(empty)}</p>"


def _answer_text(answer: Mapping[str, Any]) -> str:
    for key, value in answer.items():
        if not key.startswith("value"):
            continue
        if isinstance(value, Mapping):
            if "display" in value or "code" in value:  # Coding
                return str(value.get("display") or value.get("code"))
            if "value" in value:  # Quantity
                return f"{value['value']} {value.get('unit', '')}".strip()
            if "title" in value or "url" in value:  # Attachment
                return str(value.get("title") or "bilaga")
            return str(value.get("display") or value.get("reference") or "")
        if isinstance(value, bool):
            return "Ja" if value else "Nej"
        return str(value)
    return ""


def _answer_rows(items: Iterable[Any], depth: int = 0) -> list[str]:
    rows: list[str] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        question = str(item.get("text") or item.get("linkId") or "")
        answers = [a for a in item.get("answer") or [] if isinstance(a, Mapping)]
        if answers:
            text = ", ".join(filter(None, (_answer_text(a) for a in answers)))
            rows.append(f"{escape(question)}: <b>{escape(text)}</b>")
            for answer in answers:
                rows.extend(_answer_rows(answer.get("item") or [], depth + 1))
        rows.extend(_answer_rows(item.get("item") or [], depth + 1))
    return rows


def _coded(output: Mapping[str, Any]) -> str:
    if "valueCodeableConcept" in output:
        concept = output["valueCodeableConcept"]
        code = next((c.get("code") for c in concept.get("coding") or [] if isinstance(c, Mapping)), None)
        return DISPOSITION_SV.get(str(code), str(concept.get("text") or code or ""))
    for key, value in output.items():
        if key.startswith("value") and not isinstance(value, Mapping | list):
            return str(value)
    return ""


def assessment_rows(task: Mapping[str, Any]) -> list[str]:
    """Return the automatic assessment from Task.output as Swedish label-value lines (escaped)."""
    rows = []
    for output in task.get("output") or []:
        if not isinstance(output, Mapping):
            continue
        code = next((c.get("code") for c in (output.get("type") or {}).get("coding") or []
                     if isinstance(c, Mapping) and c.get("system") == CASE_STATE_SYSTEM), None)
        if code in OUTPUT_LABEL_SV:
            rows.append(f"{escape(OUTPUT_LABEL_SV[code])}: {escape(_coded(output))}")
    if task.get("priority"):
        rows.append(f"Prioritet: {escape(str(task['priority']))}")
    return rows


def clinician_text(task: Mapping[str, Any]) -> str:
    """Return the clinician's closing text: the Task's notes written by staff, joined in order."""
    notes = [n for n in task.get("note") or [] if isinstance(n, Mapping) and n.get("text")]
    by_staff = [n for n in notes if "authorReference" in n or "authorString" in n]
    return "\n\n".join(str(n["text"]) for n in (by_staff or notes[-1:]))


def _chat_rows(case: ClosedCase) -> list[str]:
    def when(c: Mapping[str, Any]) -> str:
        return str(c.get("sent") or c.get("meta", {}).get("lastUpdated") or "")

    rows = []
    for message in sorted(case.communications, key=when):
        sender = (message.get("sender") or {}) if isinstance(message.get("sender"), Mapping) else {}
        who = sender.get("display") or case.names.get(str(sender.get("reference")), "") or "Okänd avsändare"
        parts = []
        for payload in message.get("payload") or []:
            if isinstance(payload, Mapping) and "contentString" in payload:
                parts.append(escape(str(payload["contentString"])))
            elif isinstance(payload, Mapping) and "contentAttachment" in payload:
                parts.append(f"[bilaga: {escape(str(payload['contentAttachment'].get('title') or 'bild'))}]")
        rows.append(f"{escape(when(message)[:16].replace('T', ' '))} <b>{escape(str(who))}</b>: {' '.join(parts)}")
    return rows


def _section(key: str, rows_html: str, entries: Iterable[str] = (), empty_reason: str | None = None) -> dict[str, Any]:
    title, code = SECTIONS[key]
    section: dict[str, Any] = {"title": title, "code": {"coding": [code]}, "text": _div(rows_html)}
    refs = [{"reference": r} for r in entries]
    if refs:
        section["entry"] = refs
    elif empty_reason:
        section["emptyReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                              "code": empty_reason}]}
    return section


def composition_for(case: ClosedCase, *, identifier: Mapping[str, str], base_url: str,
                    now: datetime) -> dict[str, Any]:
    """Return the note's Composition: who, which contact, and the five sections in Swedish.

    References are absolute URLs on this hub, the same as the document's fullUrls, so they
    resolve inside the document whatever base the receiver has.
    """
    base = base_url.rstrip("/")

    def ref(resource: Mapping[str, Any]) -> str:
        return f"{base}/{_ref(resource)}"

    response = case.response
    answers = _answer_rows((response or {}).get("item") or [])
    note = clinician_text(case.task)
    photos = [m for m in case.media if m.get("id")]
    owner = str((case.task.get("owner") or {}).get("reference", ""))
    author = ({"reference": ref(case.author)} if case.author else
              {"reference": f"{base}/{owner}"} if owner else {"display": "Ingång"})
    composition: dict[str, Any] = {
        "resourceType": "Composition",
        "identifier": dict(identifier),
        "status": "final",
        "type": {"coding": [NOTE_TYPE], "text": "Anteckning, digital kontakt"},
        "subject": {"reference": ref(case.patient)},
        "encounter": {"reference": ref(case.encounter)},
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ") if now.tzinfo else now.isoformat(),
        "author": [author],
        "title": "Digital vårdkontakt via 1177 direkt",
        "confidentiality": "N",
        "section": [
            _section("answers", _list(answers, "Inga svar registrerade."),
                     [ref(response)] if response else (), None if response else "unavailable"),
            _section("assessment", _list(assessment_rows(case.task), "Ingen automatisk bedömning."), [ref(case.task)]),
            _section("chat", _list(_chat_rows(case), "Ingen chatt förekom."),
                     [ref(c) for c in case.communications], "nilknown"),
            _section("photos", _list((escape(str((m.get("content") or {}).get("title") or f"Bild {m['id']}"))
                                      for m in photos), "Inga bilder."), [ref(m) for m in photos], "nilknown"),
            _section("clinician", "".join(f"<p>{escape(p)}</p>" for p in note.split("\n\n"))
                     if note else "<p>Ingen anteckning skriven.</p>"),
        ],
    }
    if case.custodian:
        composition["custodian"] = {"reference": ref(case.custodian)}
    return composition


def _without_inline_data(media: Mapping[str, Any]) -> dict[str, Any]:
    """Keep a photo by reference: the receiver fetches the bytes from content.url if it wants them."""
    copy = dict(media)
    if isinstance(copy.get("content"), Mapping):
        copy["content"] = {k: v for k, v in copy["content"].items() if k != "data"}
    return copy


def journal_document(case: ClosedCase, *, identifier: Mapping[str, str], base_url: str,
                     now: datetime) -> dict[str, Any]:
    """Return the document Bundle: the Composition first, then every resource it points at.

    Entries carry absolute fullUrls on this hub, so the relative references inside resolve
    within the document; `identifier` stays the same on every retry of one closing.
    """
    composition = composition_for(case, identifier=identifier, base_url=base_url, now=now)
    resources: list[Mapping[str, Any]] = [case.patient, case.encounter, case.task]
    resources += [r for r in (case.author, case.custodian, case.response) if r]
    resources += list(case.communications)
    resources += [_without_inline_data(m) for m in case.media if m.get("id")]
    base = base_url.rstrip("/")
    entries = [{"fullUrl": f"urn:uuid:{_uuid_of(identifier)}", "resource": composition}]
    seen: set[str] = set()
    for resource in resources:
        ref = _ref(resource)
        if ref in seen:
            continue
        seen.add(ref)
        entries.append({"fullUrl": f"{base}/{ref}", "resource": {k: v for k, v in resource.items() if k != "meta"}})
    return {
        "resourceType": "Bundle",
        "identifier": dict(identifier),
        "type": "document",
        "timestamp": composition["date"],
        "entry": entries,
    }


def _uuid_of(identifier: Mapping[str, str]) -> str:
    """Derive a stable UUID for the Composition from the document identifier."""
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{identifier.get('system')}|{identifier.get('value')}"))
