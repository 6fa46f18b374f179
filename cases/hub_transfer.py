"""Move a case to another Ingång hub as one FHIR transaction, and take such a case in.

A region's hub can only hand a case to another region's hub by value: the receiver shares
none of the sender's ids, so every resource travels with a business identifier that names
where it came from (`{sender base}/{Type}/{id}`), and every entry is a conditional create on
it (the Patient on their personnummer). A retry after a lost answer therefore finds what the
first attempt made instead of making it twice. References between the carried resources
become `urn:uuid:`s derived from those identifiers, so the same case gives the same Bundle
on every attempt; references to the sender's staff and units, which mean nothing at the
receiver, keep only what a reader needs (display, HSA-id). The receiver, not the sender,
decides where the case waits: its own unit's Organization, in the state "transferred".
https://hl7.org/fhir/R4/http.html#trules
https://hl7.org/fhir/R4/bundle.html#references
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cases.intake import CASE_STATE_SYSTEM
from cases.lifecycle import State, put_encounter_in, put_task_in
from cases.principals import HSA_SYSTEM, PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM

ORIGIN_SYSTEM = "https://ingang.example/fhir/NamingSystem/transferred-resource"
CARRIED_TYPES = ("Patient", "QuestionnaireResponse", "Encounter", "Task", "Communication", "Media", "Binary")
PROVENANCE_AGENT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


class TransferRefused(ValueError):
    """A transfer Bundle the receiving hub will not take: what is wrong and where."""

    def __init__(self, message: str, where: str = "Bundle") -> None:
        super().__init__(message)
        self.message, self.where = message, where


@dataclass(frozen=True)
class CaseToTransfer:
    """The stored resources of the case, as the sending hub read them (dicts with ids)."""

    task: Mapping[str, Any]
    encounter: Mapping[str, Any]
    patient: Mapping[str, Any]
    response: Mapping[str, Any] | None = None
    communications: Sequence[Mapping[str, Any]] = ()
    media: Sequence[Mapping[str, Any]] = ()
    binaries: Sequence[Mapping[str, Any]] = ()
    # A reference that will not travel -> what to keep of it (display, identifier).
    describe: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def origin_of(sender_base: str, ref: str) -> str:
    """Return the business identifier value of a sender's resource: its absolute URL there."""
    return f"{sender_base.rstrip('/')}/{ref}"


def _urn(origin: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, origin)}"


def binary_id(origin: str) -> str:
    """Return the id a carried Binary gets at the receiver: the same for every attempt (Binary has no identifier)."""
    return "x" + hashlib.sha256(origin.encode("utf-8")).hexdigest()[:40]


def _patient_key(patient: Mapping[str, Any]) -> str | None:
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, Mapping) and identifier.get("system") in (PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM):
            return f"{identifier['system']}|{identifier.get('value')}"
    return None


def _rewrite(node: Any, local: Mapping[str, str], describe: Callable[[str, Mapping[str, Any]], dict[str, Any]]) -> Any:
    """Point references between carried resources at their urn:uuid; reduce the others to what they say."""
    if isinstance(node, list):
        return [_rewrite(n, local, describe) for n in node]
    if not isinstance(node, Mapping):
        return node
    ref = node.get("reference")
    if isinstance(ref, str) and not ref.startswith("#"):
        if ref in local:
            return {**{k: v for k, v in node.items() if k != "reference"}, "reference": local[ref]}
        return describe(ref, node)
    return {k: _rewrite(v, local, describe) for k, v in node.items()}


def _with_origin(resource: dict[str, Any], origin: str) -> dict[str, Any]:
    mark = {"system": ORIGIN_SYSTEM, "value": origin}
    if resource["resourceType"] == "QuestionnaireResponse":
        resource["identifier"] = mark  # 0..1 in R4
    else:
        resource["identifier"] = [*(resource.get("identifier") or []), mark]
    return resource


def transfer_bundle(case: CaseToTransfer, *, sender_base: str, sender_name: str) -> dict[str, Any]:
    """Return the transaction Bundle that recreates the case at the other hub, the same on every attempt."""
    carried = [case.patient, case.encounter, case.task, *([case.response] if case.response else []),
               *case.communications, *case.media]
    refs = {f"{r['resourceType']}/{r['id']}": origin_of(sender_base, f"{r['resourceType']}/{r['id']}") for r in carried}
    refs.update({f"Binary/{b['id']}": origin_of(sender_base, f"Binary/{b['id']}") for b in case.binaries})
    local = {ref: _urn(origin) for ref, origin in refs.items()}

    def describe(ref: str, node: Mapping[str, Any]) -> dict[str, Any]:
        kept = dict(case.describe.get(ref) or {})
        kept.setdefault("display", str(node.get("display") or f"{ref.split('/')[0]} vid {sender_name}"))
        return kept

    entries = []
    for resource in carried:
        ref = f"{resource['resourceType']}/{resource['id']}"
        body = _with_origin(_rewrite({k: v for k, v in resource.items() if k not in ("id", "meta")}, local, describe),
                            refs[ref])
        person = _patient_key(resource) if resource["resourceType"] == "Patient" else None
        condition = f"identifier={person or f'{ORIGIN_SYSTEM}|{refs[ref]}'}"
        if resource["resourceType"] == "Media" and isinstance(body.get("content"), Mapping):
            url = body["content"].get("url")
            if isinstance(url, str) and url in local:  # the photo's bytes travel as a Binary entry
                body["content"] = {**body["content"], "url": local[url]}
        entries.append({"fullUrl": local[ref], "resource": body,
                        "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": condition}})
    for binary in case.binaries:
        ref = f"Binary/{binary['id']}"
        body = _rewrite({k: v for k, v in binary.items() if k != "meta"}, local, describe)
        body["id"] = binary_id(refs[ref])
        entries.append({"fullUrl": local[ref], "resource": body,
                        "request": {"method": "PUT", "url": f"Binary/{body['id']}"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def waiting_at(task: dict[str, Any], encounter: dict[str, Any] | None, unit_ref: str,
               now: datetime) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Put a received case in the unit's waiting room: the Task ready and owned by the unit, the Encounter arrived."""
    task = put_task_in(task, State.TRANSFERRED, now, owner=unit_ref)
    task.pop("executionPeriod", None)
    if encounter is not None:
        encounter = put_encounter_in(encounter, State.TRANSFERRED, now, unit=unit_ref)
        encounter.get("period", {}).pop("end", None)
    return task, encounter


def check_transfer_bundle(bundle: Any) -> list[dict[str, Any]]:
    """Return the entries of a transfer Bundle, or raise TransferRefused saying what is wrong."""
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        raise TransferRefused("A transfer is a transaction Bundle")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise TransferRefused("The transfer Bundle has no entries", "Bundle.entry")
    tasks = 0
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        request = entry.get("request") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping) or not isinstance(request, Mapping):
            raise TransferRefused("every entry needs a resource and a request", where)
        res_type = resource.get("resourceType")
        if res_type not in CARRIED_TYPES:
            raise TransferRefused(f"a transfer carries {', '.join(CARRIED_TYPES)}, not {res_type}", where)
        if res_type == "Binary":
            if request.get("method") != "PUT" or request.get("url") != f"Binary/{resource.get('id')}":
                raise TransferRefused("a Binary travels as PUT Binary/<its id>", f"{where}.request")
        elif request.get("method") != "POST" or not str(request.get("ifNoneExist") or "").startswith("identifier="):
            raise TransferRefused("every resource but Binary is a conditional create on its identifier "
                                  "(POST with ifNoneExist=identifier=…)", f"{where}.request")
        if not str(entry.get("fullUrl") or ""):
            raise TransferRefused("every entry needs a fullUrl", where)
        tasks += res_type == "Task"
    if tasks != 1:
        raise TransferRefused(f"a transfer carries exactly one Task (the case), not {tasks}", "Bundle.entry")
    return [dict(e) for e in entries]


def rewrite_received(resource: Mapping[str, Any], assigned: Mapping[str, str]) -> dict[str, Any]:
    """Point a received resource's urn:uuid references at the receiver's ids; TransferRefused if one is unknown."""
    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, Mapping):
            return node
        ref = node.get("reference")
        if isinstance(ref, str) and ref.startswith("urn:uuid:"):
            if ref not in assigned:
                raise TransferRefused(f"{ref} names no entry of the transfer")
            return {**node, "reference": assigned[ref]}
        return {k: walk(v) for k, v in node.items()}

    out: dict[str, Any] = walk(copy.deepcopy(dict(resource)))
    if out.get("resourceType") == "Media" and isinstance(out.get("content"), dict):
        url = out["content"].get("url")
        if isinstance(url, str) and url in assigned:
            out["content"]["url"] = assigned[url]
    return out


def _instant(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def transfer_out_record(*, task_ref: str, encounter_ref: str | None, performer: Mapping[str, Any] | None,
                        source_unit: str | None, hub_name: str, unit_hsa: str, reason: str,
                        now: datetime) -> dict[str, Any]:
    """Return the sender's Provenance: who moved the case to which unit of which hub, from where, and why."""
    agents: list[dict[str, Any]] = []
    if performer is not None:
        agents.append({"type": _coding(PROVENANCE_AGENT_TYPE, "performer", "Performer"), "who": dict(performer)})
    if source_unit:
        agents.append({"type": _coding(CASE_STATE_SYSTEM, "transfer-from", "Flyttat från"),
                       "who": {"reference": source_unit}})
    agents.append({"type": _coding(CASE_STATE_SYSTEM, "transfer-to", "Flyttat till"),
                   "who": {"identifier": {"system": HSA_SYSTEM, "value": unit_hsa},
                           "display": f"{unit_hsa} (hubben {hub_name})"}})
    targets = [{"reference": task_ref}] + ([{"reference": encounter_ref}] if encounter_ref else [])
    return {"resourceType": "Provenance", "target": targets, "recorded": _instant(now),
            "activity": _coding(CASE_STATE_SYSTEM, "transfer-out", "Flytt av ärende till annan hubb"),
            "reason": [{"text": reason}], "agent": agents}


def transfer_in_record(*, task_ref: str, encounter_ref: str | None, unit_ref: str, sender: str,
                       origin: str, now: datetime) -> dict[str, Any]:
    """Return the receiver's Provenance: the case came from that hub, by that client, to this unit."""
    targets = [{"reference": task_ref}] + ([{"reference": encounter_ref}] if encounter_ref else [])
    return {"resourceType": "Provenance", "target": targets, "recorded": _instant(now),
            "activity": _coding(CASE_STATE_SYSTEM, "transfer-in", "Ärende mottaget från annan hubb"),
            "agent": [
                {"type": _coding(PROVENANCE_AGENT_TYPE, "author", "Author"),
                 "who": {"identifier": {"system": "urn:ietf:params:oauth:client-id", "value": sender},
                         "display": "Avsändande hubb"}},
                {"type": _coding(CASE_STATE_SYSTEM, "transfer-to", "Flyttat till"), "who": {"reference": unit_ref}},
            ],
            "entity": [{"role": "source", "what": {"identifier": {"system": ORIGIN_SYSTEM, "value": origin}}}]}
