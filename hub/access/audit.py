"""Write the PDL access log: one AuditEvent per access to patient data, in the access's transaction.

The event says who (HSA-id or personnummer as `agent.who.identifier`, and again as `altId`
so `AuditEvent?altid=` finds it), for which care unit and care provider (agents of their
own, with their HSA-ids as `altId`, and the `acting-care-unit` extension), why
(`purposeOfUse`, ETREAT plus a security label and the stated reason under emergency access),
from where (`agent.network.address`), which patients (entities with role Patient, so
`AuditEvent?patient=` finds it), what (the resource, or the search's query), when and with
which outcome. It is written through the repository on the request's own connection, so a
failed interaction rolls its AuditEvent back with it, and nothing that succeeded goes unlogged.
Kept at least 5 years (PDL 4 kap. 3 §, HSLF-FS 2016:40 4 kap. 9 §); the API never changes or deletes it.
https://hl7.org/fhir/R4/auditevent.html
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from cases.access import PURPOSE_SYSTEM, purpose_of_use
from cases.principals import HSA_SYSTEM, Citizen, Clinician, Guardian, Principal, RegionalSystem
from fhir_api.store.repository import instant
from hub.access.grants import naive_utc

EXTENSION_BASE = "https://ingang.se/fhir/StructureDefinition"
ACTING_UNIT = f"{EXTENSION_BASE}/acting-care-unit"
ACTING_PROVIDER = f"{EXTENSION_BASE}/acting-care-provider"
COMMISSION = f"{EXTENSION_BASE}/commission"
ACTING_FOR = f"{EXTENSION_BASE}/acting-for-child"
EMERGENCY_REASON = f"{EXTENSION_BASE}/emergency-access-reason"
CLIENT_ID_SYSTEM = "urn:ietf:params:oauth:client-id"
HUB_DEVICE = {"display": "Ingång FHIR hub"}
_ACTIONS = {"create": "C", "read": "R", "vread": "R", "history": "R", "update": "U", "patch": "U",
            "delete": "D", "search": "E", "operation": "E"}
_SUBTYPES = {"read": "read", "vread": "vread", "history": "history-instance", "update": "update",
             "patch": "patch", "delete": "delete", "create": "create", "search": "search-type",
             "operation": "operation"}


@dataclass
class AccessRecord:
    """What the guard saw of one access, to be written as an AuditEvent."""

    principal: Principal
    interaction: str
    address: str
    recorded: datetime
    what: list[str] = field(default_factory=list)  # "Type/id/_history/n"
    patients: Sequence[str] = ()
    query: str | None = None  # "Encounter?status=arrived", for searches
    emergency_reason: str | None = None
    unit_id: str | None = None  # the acting unit's Organization id, when the directory has it
    outcome: str = "0"


def query_text(res_type: str | None, params: Iterable[tuple[str, str]]) -> str:
    """Write a search as the log keeps it: type and query string, without format parameters."""
    kept = [(k, v) for k, v in params if k not in ("_format", "_pretty")]
    return f"{res_type or ''}?{urlencode(kept)}"


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"system": system, "code": code, "display": display}


def _user_agent(principal: Principal, record: AccessRecord, purpose: dict[str, Any]) -> dict[str, Any]:
    agent: dict[str, Any] = {"requestor": True, "purposeOfUse": [purpose],
                             "network": {"address": record.address or "unknown", "type": "2"}}
    extensions: list[dict[str, Any]] = []
    if isinstance(principal, Clinician):
        c = principal.commission
        name = " ".join(p for p in (principal.given_name, principal.family_name) if p)
        agent.update(who={"identifier": {"system": HSA_SYSTEM, "value": principal.employee_hsa_id}},
                     altId=principal.employee_hsa_id, type={"coding": [_coding(
                         "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "humanuser", "human user")]})
        if principal.profession:
            agent["role"] = [{"text": principal.profession}]
        extensions += [{"url": ACTING_UNIT, "valueIdentifier": {"system": HSA_SYSTEM, "value": c.care_unit_hsa_id}},
                       {"url": ACTING_PROVIDER, "valueIdentifier": {"system": HSA_SYSTEM,
                                                                    "value": c.care_provider_hsa_id}},
                       {"url": COMMISSION, "valueIdentifier": {"system": HSA_SYSTEM, "value": c.commission_hsa_id}}]
    elif isinstance(principal, (Citizen, Guardian)):
        citizen = principal.citizen if isinstance(principal, Guardian) else principal
        name = " ".join(p for p in (citizen.given_name, citizen.family_name) if p)
        agent.update(who={"identifier": {"system": citizen.identifier_system, "value": citizen.person_id}},
                     altId=citizen.person_id, type={"coding": [_coding(
                         "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "humanuser", "human user")]})
        if isinstance(principal, Guardian):
            agent["role"] = [{"coding": [_coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "GUARD",
                                                 "guardian")]}]
            extensions.append({"url": ACTING_FOR, "valueIdentifier": {
                "system": citizen.identifier_system, "value": principal.child_person_id}})
    else:
        assert isinstance(principal, RegionalSystem)
        name = principal.client_id
        agent.update(who={"identifier": {"system": CLIENT_ID_SYSTEM, "value": principal.client_id}},
                     altId=principal.client_id, type={"coding": [_coding(
                         "http://dicom.nema.org/resources/ontology/DCM", "110150", "Application")]})
    if name:
        agent["name"] = name
    if record.emergency_reason:
        extensions.append({"url": EMERGENCY_REASON, "valueString": record.emergency_reason})
    if extensions:
        agent["extension"] = extensions
    return agent


def _org_agent(hsa_id: str, org_id: str | None, what: str) -> dict[str, Any]:
    who: dict[str, Any] = {"identifier": {"system": HSA_SYSTEM, "value": hsa_id}}
    if org_id:
        who["reference"] = f"Organization/{org_id}"
    return {"who": who, "altId": hsa_id, "requestor": False,
            "type": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PROV",
                                        "healthcare provider")], "text": what}}


def audit_event(record: AccessRecord) -> dict[str, Any]:
    """Return the AuditEvent for one access."""
    principal = record.principal
    emergency = record.emergency_reason is not None
    code, display = purpose_of_use(principal, emergency)
    purpose = {"coding": [_coding(PURPOSE_SYSTEM, code, display)]}
    agents = [_user_agent(principal, record, purpose)]
    site = "1177"
    if isinstance(principal, Clinician):
        c = principal.commission
        agents += [_org_agent(c.care_unit_hsa_id, record.unit_id, "care unit"),
                   _org_agent(c.care_provider_hsa_id, None, "care provider")]
        site = c.care_unit_hsa_id
    elif isinstance(principal, RegionalSystem):
        agents.append(_org_agent(principal.region, None, "region"))
        site = principal.region
    entities: list[dict[str, Any]] = [
        {"what": {"reference": f"Patient/{p}"},
         "type": _coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person"),
         "role": _coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient")}
        for p in sorted(set(record.patients))]
    entities += [{"what": {"reference": ref},
                  "type": _coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
                  "role": _coding("http://terminology.hl7.org/CodeSystem/object-role", "4", "Domain Resource")}
                 for ref in record.what]
    if record.query is not None:
        entities.append({"type": _coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2",
                                         "System Object"),
                         "role": _coding("http://terminology.hl7.org/CodeSystem/object-role", "24", "Query"),
                         "description": record.query[:1000],
                         "query": base64.b64encode(record.query.encode()).decode("ascii")})
    subtype = "search-system" if record.interaction == "search" and record.query and record.query.startswith(
        "?") else _SUBTYPES.get(record.interaction, "operation")
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": _coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "RESTful Operation"),
        "subtype": [_coding("http://hl7.org/fhir/restful-interaction", subtype, subtype)],
        "action": _ACTIONS.get(record.interaction, "E"),
        "recorded": instant(naive_utc(record.recorded)),
        "outcome": record.outcome,
        "purposeOfEvent": [purpose],
        "agent": agents,
        "source": {"site": site, "observer": HUB_DEVICE, "type": [_coding(
            "http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")]},
    }
    if entities:
        event["entity"] = entities
    if emergency:
        event["meta"] = {"security": [_coding(PURPOSE_SYSTEM, "ETREAT", "Emergency Treatment")]}
    return event
