"""Translate RIV-TA journal answers into read-only FHIR resources for the journal view.

GetCareDocumentation (clinicalprocess:healthcond:description 2.0) becomes DocumentReference,
GetCareContacts (clinicalprocess:logistics:logistics 2.0) becomes Encounter. Why a mapping
of its own: the hub shows these to the clinician but never stores them — the region's journal
stays the record — so each resource is identified by the source system's document id and
names units and people by HSA-id, not by a hub resource id. Codes the contracts define
(note type, contact type, status) keep their RIV-TA code alongside the FHIR one.
https://hl7.org/fhir/R4/documentreference.html, https://hl7.org/fhir/R4/encounter.html
"""

from __future__ import annotations

import base64
from typing import Any

from mappings.hsa import fhir_instant, fhir_person_identifier, hsa_reference

BASE = "https://ingang.se/fhir"
DOCUMENT_ID_SYSTEM = f"{BASE}/sid/riv-document-id"
NOTE_CODES = f"{BASE}/CodeSystem/riv-clinical-document-note"
CONTACT_CODES = f"{BASE}/CodeSystem/riv-care-contact"
CONTACT_STATUS_EXTENSION = f"{BASE}/StructureDefinition/riv-care-contact-status"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"

NOTE_NAMES = {"utr": "Utredning", "atb": "Åtgärd/behandling", "sam": "Sammanfattning", "sao": "Samordning",
              "ins": "Inskrivning", "slu": "Slutanteckning", "auf": "Anteckning utan fysiskt möte",
              "sva": "Sammanfattning vårdplan", "bes": "Besöksanteckning"}
# careContactCode: 1 Besök, 2 Telefon, 3 Vårdtillfälle, 4 Dagsjukvård, 5 Annan.
CONTACT_CLASSES = {"1": ("AMB", "ambulatory"), "2": ("VR", "virtual"), "3": ("IMP", "inpatient encounter"),
                   "4": ("SS", "short stay")}
CONTACT_NAMES = {"1": "Besök", "2": "Telefon", "3": "Vårdtillfälle", "4": "Dagsjukvård", "5": "Annan"}
# careContactStatus: 1 Ej påbörjad, 2 Inställd, 3 Pågående, 4 Avbruten, 5 Avslutad. An interrupted
# contact did take place and has ended, so it is `finished`; the extension keeps "Avbruten".
CONTACT_STATUS = {"1": "planned", "2": "cancelled", "3": "in-progress", "4": "finished", "5": "finished"}
CONTACT_STATUS_NAMES = {"1": "Ej påbörjad", "2": "Inställd", "3": "Pågående", "4": "Avbruten", "5": "Avslutad"}


def _drop_empty(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if v not in (None, [], {}, "")}


def _professional(header: dict[str, Any]) -> dict[str, Any] | None:
    person = header.get("accountableHealthcareProfessional") or {}
    return hsa_reference(person.get("healthcareProfessionalHSAId"), person.get("healthcareProfessionalName"))


def document_reference(care_documentation: dict[str, Any]) -> dict[str, Any]:
    """Map one `careDocumentation` element to a DocumentReference."""
    header = care_documentation.get("careDocumentationHeader") or {}
    note = (care_documentation.get("careDocumentationBody") or {}).get("clinicalDocumentNote") or {}
    code = note.get("clinicalDocumentNoteCode")
    person = header.get("accountableHealthcareProfessional") or {}
    unit = person.get("healthcareProfessionalOrgUnit") or {}
    title = note.get("clinicalDocumentNoteTitle") or header.get("documentTitle")
    content: dict[str, Any] = {"contentType": "text/plain; charset=utf-8",
                               "data": base64.b64encode((note.get("clinicalDocumentNoteText") or "").encode()).decode()}
    if title:
        content["title"] = title
    return _drop_empty({
        "resourceType": "DocumentReference",
        "masterIdentifier": {"system": DOCUMENT_ID_SYSTEM, "value": header.get("documentId"),
                             "assigner": hsa_reference(header.get("sourceSystemHSAid"))},
        "status": "entered-in-error" if header.get("nullified") else "current",
        "type": {"coding": [{"system": NOTE_CODES, "code": code, "display": NOTE_NAMES.get(code or "", code)}],
                 "text": NOTE_NAMES.get(code or "", code)} if code else None,
        "subject": {"identifier": fhir_person_identifier(header.get("patientId") or {})},
        "date": fhir_instant(header.get("documentTime")),
        "author": [a for a in (_professional(header),) if a],
        "custodian": hsa_reference(unit.get("orgUnitHSAId"), unit.get("orgUnitName")),
        "description": header.get("nullifiedReason") if header.get("nullified") else title,
        "content": [{"attachment": content}],
    })


def encounter(care_contact: dict[str, Any]) -> dict[str, Any]:
    """Map one `careContact` element to an Encounter."""
    header = care_contact.get("careContactHeader") or {}
    body = care_contact.get("careContactBody") or {}
    # The contract types both codes as xs:int enumerations; a SOAP client may hand back ints.
    code, status = (None if v is None else str(v) for v in (body.get("careContactCode"), body.get("careContactStatus")))
    cls, cls_name = CONTACT_CLASSES.get(code or "", ("UNK", "unknown"))
    unit = body.get("careContactOrgUnit") or {}
    period = body.get("careContactTimePeriod") or {}
    extension = [{"url": CONTACT_STATUS_EXTENSION, "valueCoding": {
        "system": f"{CONTACT_CODES}-status", "code": status, "display": CONTACT_STATUS_NAMES.get(status, status)}}
    ] if status else []
    professional = _professional(header)
    return _drop_empty({
        "resourceType": "Encounter",
        "extension": extension,
        "identifier": [{"system": DOCUMENT_ID_SYSTEM, "value": header.get("documentId"),
                        "assigner": hsa_reference(header.get("sourceSystemHSAId"))}],
        "status": CONTACT_STATUS.get(status or "", "unknown"),
        "class": {"system": NULL_FLAVOR if cls == "UNK" else ACT_CODE, "code": cls, "display": cls_name},
        "type": [{"coding": [{"system": CONTACT_CODES, "code": code, "display": CONTACT_NAMES.get(code, code)}]}]
        if code else [],
        "subject": {"identifier": fhir_person_identifier(header.get("patientId") or {})},
        "participant": [{"individual": professional}] if professional else [],
        "period": _drop_empty({"start": fhir_instant(period.get("start")), "end": fhir_instant(period.get("end"))}),
        "reasonCode": [{"text": body["careContactReason"]}] if body.get("careContactReason") else [],
        "serviceProvider": hsa_reference(unit.get("orgUnitHSAId"), unit.get("orgUnitName")),
    })
