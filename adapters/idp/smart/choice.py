"""Let the person who just logged in choose who they act as: themselves or a child, or a commission.

Why: an identity provider proves who someone is, not whom they act for. A parent who logs in
with BankID may act for a child the population register says they have custody of; a clinician
with several commissions acts under one at a time (PDL), and most identity providers do not ask
which. The hub asks, on a page of its own, between the provider's callback and the app's code;
each option is a whole principal made before the page is shown, so the browser only names one
of them and cannot make up another.
https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Protocol

from adapters.idp.dev.population import act_for_child
from adapters.idp.oidc.errors import NotGuardian
from adapters.idp.smart.login import CommissionChoice
from adapters.idp.tokens.claims import principal_from_claim, principal_to_claim
from cases.principals import CARE_PURPOSE, Citizen, Clinician, Guardian, Principal
from mappings.personnummer import InvalidPersonalIdentity, parse_personal_identity


class CustodyRegister(Protocol):
    """Who has custody of whom (the population register), by 12-digit number."""

    def guardians_of(self, child: str) -> Sequence[str]:
        """Return the guardians of a child."""
        ...

    def children_of(self, guardian: str) -> Sequence[str]:
        """Return the children a person has custody of."""
        ...


class PersonNames(Protocol):
    """Find the name the hub knows a person by, to label a choice."""

    def person_name(self, person_id: str) -> str | None:
        """Return the person's name, or None if the hub has no record of them."""
        ...


@dataclass(frozen=True)
class LoginOption:
    """One entry on the choice page: what kind it is, whose name, and a line that tells it apart."""

    key: str
    kind: str  # "self", "child" or "commission"
    name: str
    detail: str
    purpose: str = ""


def _commission_option(index: int, clinician: Clinician) -> LoginOption:
    c = clinician.commission
    return LoginOption(key=str(index), kind="commission", name=c.care_unit_name or c.care_unit_hsa_id,
                       detail=c.commission_hsa_id, purpose=c.purpose)


def _born(person_id: str) -> str:
    try:
        return parse_personal_identity(person_id).birth_date.isoformat()
    except InvalidPersonalIdentity:
        return ""


def candidates_for(outcome: Principal | CommissionChoice, purposes: Sequence[str]) -> list[Principal]:
    """Return the principals the login may become, keeping only commissions of the app's purposes."""
    found = list(outcome.candidates) if isinstance(outcome, CommissionChoice) else [outcome]
    return [p for p in found if not isinstance(p, Clinician) or p.commission.purpose in purposes]


def with_children(citizen: Citizen, register: CustodyRegister | None, today: date) -> list[Principal]:
    """Return the citizen, then the citizen acting for each minor child the register confirms."""
    found: list[Principal] = [citizen]
    if register is None:
        return found
    for child in register.children_of(citizen.person_id):
        try:
            found.append(act_for_child(citizen, child, register, today))
        except NotGuardian:
            continue  # 18 or older, or the register disagrees with itself: not a choice to offer
    return found


def describe(candidates: Sequence[Principal], names: PersonNames) -> list[LoginOption]:
    """Return the page's options for the candidates, in their order."""
    options = []
    for index, principal in enumerate(candidates):
        if isinstance(principal, Clinician):
            options.append(_commission_option(index, principal))
        elif isinstance(principal, Guardian):
            child = principal.child_person_id
            options.append(LoginOption(key=str(index), kind="child", name=names.person_name(child) or "",
                                       detail=_born(child)))
        elif isinstance(principal, Citizen):
            name = f"{principal.given_name} {principal.family_name}".strip()
            options.append(LoginOption(key=str(index), kind="self", name=name or names.person_name(
                principal.person_id) or "", detail=""))
    return options


def choice_record(candidates: Sequence[Principal], options: Sequence[LoginOption]) -> dict[str, Any]:
    """Return what the hub keeps server-side while the person chooses: JSON values only."""
    return {"candidates": [principal_to_claim(p) for p in candidates], "options": [asdict(o) for o in options]}


def options_of(record: dict[str, Any]) -> list[LoginOption]:
    """Return the options a kept choice offers."""
    return [LoginOption(**o) for o in record.get("options", [])]


def chosen(record: dict[str, Any], key: str) -> Principal | None:
    """Return the principal behind the option `key`, or None if the choice offered no such option."""
    keys = [o["key"] for o in record.get("options", [])]
    if key not in keys:
        return None
    return principal_from_claim(record["candidates"][keys.index(key)])


def purposes_text(purposes: Sequence[str]) -> str:
    """Name the purposes an app accepts, for a refusal: "Vård och behandling" or "A or B"."""
    return " or ".join(purposes) if purposes else CARE_PURPOSE
