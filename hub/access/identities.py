"""Refuse a resource whose personnummer or samordningsnummer is not one, saying what is wrong and where.

Why: the access rules find a person's data by these numbers, so a Patient written with a
mistyped number would be out of reach of the citizen it belongs to and could land in a
stranger's. Every number a create or update brings in goes through `mappings.personnummer`
(century, date, `+` for 100-year-olds, day + 60, Luhn); the identifier's system must fit the
kind of number, and a Patient's or RelatedPerson's `birthDate` and `gender` must agree with it.
https://hl7.org/fhir/R4/datatypes.html#Identifier
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from cases.principals import PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM
from fhir_api.outcomes import BadRequest
from mappings.personnummer import InvalidPersonalIdentity, parse_personal_identity

SYSTEMS = {PERSONNUMMER_SYSTEM: "personnummer", SAMORDNINGSNUMMER_SYSTEM: "samordningsnummer"}
# Types whose birthDate and gender describe the person the number names.
PERSON_TYPES = frozenset({"Patient", "RelatedPerson", "Person"})


def check_identities(res_type: str, body: Any, today: date) -> None:
    """Raise BadRequest naming the identifier if a personnummer or samordningsnummer in the body is invalid."""
    if not isinstance(body, Mapping):
        return
    identifiers = body.get("identifier")
    for index, identifier in enumerate(identifiers if isinstance(identifiers, list) else []):
        if not isinstance(identifier, Mapping) or identifier.get("system") not in SYSTEMS:
            continue
        where = (f"{res_type}.identifier[{index}].value",)
        kind, value = SYSTEMS[identifier["system"]], identifier.get("value")
        if not isinstance(value, str):
            raise BadRequest(f"{res_type}.identifier[{index}] has the {kind} system but no value", where)
        try:
            identity = parse_personal_identity(value, today)
        except InvalidPersonalIdentity as exc:
            raise BadRequest(f"{res_type}.identifier[{index}]: {value!r} is not a valid {kind}: {exc.reason}",
                             where) from None
        if identity.identifier_system != identifier["system"]:
            actual = SYSTEMS[identity.identifier_system]
            raise BadRequest(f"{res_type}.identifier[{index}]: {value!r} is a {actual}, so its system must be "
                             f"{identity.identifier_system}", (f"{res_type}.identifier[{index}].system",))
        if res_type in PERSON_TYPES:
            _agrees(res_type, body, identity.birth_date.isoformat(), identity.sex, index)


def _agrees(res_type: str, body: Mapping[str, Any], born: str, sex: str, index: int) -> None:
    birth_date = body.get("birthDate")
    if isinstance(birth_date, str) and birth_date != born:
        raise BadRequest(f"{res_type}.birthDate {birth_date} does not agree with identifier[{index}], which says "
                         f"{born}", (f"{res_type}.birthDate",))
    gender = body.get("gender")
    if gender in ("male", "female") and gender != sex:
        raise BadRequest(f"{res_type}.gender {gender} does not agree with identifier[{index}], which is a "
                         f"{sex}'s number", (f"{res_type}.gender",))
