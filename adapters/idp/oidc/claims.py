"""Turn verified ID token claims into the hub's principals: BankID citizens and SITHS clinicians.

Citizens come through an OpenID provider that brokers BankID and speaks the Swedish OIDC
profile; their number is validated with `mappings.personnummer`, never trusted as sent.
Clinicians come through the Inera IdP; `INERA_CLAIMS` is the one table of its claim names.
Only commissions whose purpose is "Vård och behandling" may be used for care (PDL ch. 4), so a
clinician with none cannot log in, and one with several chooses which to act under.
https://oidc.se/specifications/swedish-oidc-claims-specification-1_0.html
https://inera.atlassian.net/wiki/spaces/ST/pages/3475212719/2.0+Attributlista
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any, Final

from adapters.idp.oidc.errors import InvalidIdentityClaims, NoEligibleCommission, UnknownCommission
from cases.principals import CARE_PURPOSE, Citizen, Clinician, Commission
from mappings.personnummer import InvalidPersonalIdentity, parse_personal_identity

PERSONAL_IDENTITY_NUMBER: Final = "https://id.oidc.se/claim/personalIdentityNumber"
COORDINATION_NUMBER: Final = "https://id.oidc.se/claim/coordinationNumber"
CITIZEN_SCOPES: Final = ("openid", "https://id.oidc.se/scope/naturalPersonNumber")

# The Inera IdP's OIDC claim for each thing the hub reads. Commissions arrive either as the one
# the clinician picked in the IdP (top-level claims) or as a list of objects with the same names.
INERA_CLAIMS: Final[Mapping[str, str]] = MappingProxyType({
    "employee_hsa_id": "employeeHsaId",
    "given_name": "given_name",
    "family_name": "family_name",
    "title": "title",
    "licences": "healthcareProfessionalLicense",
    "prescription_code": "personalPrescriptionCode",
    "commissions": "commissions",
    "commission_hsa_id": "commissionHsaId",
    "commission_name": "commissionName",
    "commission_purpose": "commissionPurpose",
    "commission_rights": "commissionRight",
    "care_provider_hsa_id": "healthCareProviderHsaId",
    "care_provider_name": "healthCareProviderName",
    "care_unit_hsa_id": "healthCareUnitHsaId",
    "care_unit_name": "healthCareUnitName",
})


def citizen_from_claims(claims: Mapping[str, Any], today: date | None = None) -> Citizen:
    """Return the citizen a BankID login names, with a validated 12-digit number."""
    personal = claims.get(PERSONAL_IDENTITY_NUMBER)
    coordination = claims.get(COORDINATION_NUMBER)
    if personal and coordination and personal != coordination:
        raise InvalidIdentityClaims("the identity provider sent two different numbers for one person")
    name, value = ("personalIdentityNumber", personal) if personal else ("coordinationNumber", coordination)
    if not value:
        raise InvalidIdentityClaims("the identity provider sent neither a personnummer nor a samordningsnummer")
    if not isinstance(value, str):
        raise InvalidIdentityClaims(f"the {name} claim is not a string")
    try:
        identity = parse_personal_identity(value, today)
    except InvalidPersonalIdentity as exc:
        raise InvalidIdentityClaims(f"the {name} claim is not a valid number: {exc.reason}") from None
    if name == "coordinationNumber" and not identity.is_coordination_number:
        raise InvalidIdentityClaims("the coordinationNumber claim holds a personnummer, not a samordningsnummer")
    return Citizen(person_id=identity.number, given_name=_text(claims, "given_name"),
                   family_name=_text(claims, "family_name"),
                   coordination_number=identity.is_coordination_number)


@dataclass(frozen=True)
class StaffLogin:
    """A clinician who has logged in but not yet chosen the commission to act under."""

    employee_hsa_id: str
    given_name: str
    family_name: str
    profession: str
    licences: tuple[str, ...]
    prescription_code: str
    commissions: tuple[Commission, ...]

    @property
    def sole_commission(self) -> Commission | None:
        """Return the only commission the login may use, when there is no choice to make."""
        return self.commissions[0] if len(self.commissions) == 1 else None

    def choose(self, commission_hsa_id: str) -> Clinician:
        """Return the clinician acting under the chosen commission."""
        for commission in self.commissions:
            if commission.commission_hsa_id == commission_hsa_id:
                return Clinician(employee_hsa_id=self.employee_hsa_id, commission=commission,
                                 given_name=self.given_name, family_name=self.family_name,
                                 profession=self.profession, licences=self.licences)
        offered = ", ".join(c.commission_hsa_id for c in self.commissions)
        raise UnknownCommission(
            f"{commission_hsa_id!r} is not one of the commissions you may use here; choose one of {offered}")

    def resolve(self, *preferences: object) -> Clinician | None:
        """Return the clinician under the first preferred commission, or the sole one; None to ask.

        Preferences are the app's hint and the choice made in the identity provider, in that
        order; an empty or missing one is skipped, an unknown one is refused (UnknownCommission).
        """
        for choice in preferences:
            if isinstance(choice, str) and choice:
                return self.choose(choice)
        sole = self.sole_commission
        return self.choose(sole.commission_hsa_id) if sole is not None else None

    def candidates(self) -> tuple[Clinician, ...]:
        """Return the clinician under each commission, for the person to choose from."""
        return tuple(self.choose(c.commission_hsa_id) for c in self.commissions)


def staff_login_from_claims(claims: Mapping[str, Any], purposes: Sequence[str] = (CARE_PURPOSE,)) -> StaffLogin:
    """Return the clinician a SITHS login names, with the commissions they may use for `purposes`.

    Why: an app that opens patients' records takes only commissions for care (PDL); the
    region's statistics page takes its administrators' commissions, which are for other purposes.
    """
    employee = _text(claims, INERA_CLAIMS["employee_hsa_id"])
    if not employee:
        raise InvalidIdentityClaims(f"the identity provider sent no {INERA_CLAIMS['employee_hsa_id']}")
    found = _commissions(claims)
    eligible = tuple(c for c in found if c.purpose in purposes)
    if not eligible:
        other = sorted({c.purpose for c in found})
        detail = f"; the commissions found are for {', '.join(other)}" if other else "; none was found"
        raise NoEligibleCommission(f"{employee} has no commission for {' or '.join(purposes)}{detail}")
    return StaffLogin(
        employee_hsa_id=employee, given_name=_text(claims, INERA_CLAIMS["given_name"]),
        family_name=_text(claims, INERA_CLAIMS["family_name"]), profession=_text(claims, INERA_CLAIMS["title"]),
        licences=_texts(claims.get(INERA_CLAIMS["licences"])),
        prescription_code=_text(claims, INERA_CLAIMS["prescription_code"]), commissions=eligible)


def choose_commission(claims: Mapping[str, Any], commission_hsa_id: str) -> Clinician:
    """Return the clinician the claims name, acting under the chosen commission for care."""
    return staff_login_from_claims(claims).choose(commission_hsa_id)


def _commissions(claims: Mapping[str, Any]) -> list[Commission]:
    """Read every well-formed commission, once each, listed ones first then the top-level one."""
    listed = claims.get(INERA_CLAIMS["commissions"])
    sources = [c for c in listed if isinstance(c, Mapping)] if isinstance(listed, list) else []
    if INERA_CLAIMS["commission_hsa_id"] in claims:
        sources.append(claims)
    seen: dict[str, Commission] = {}
    for source in sources:
        commission = _commission(source)
        # A commission without its unit and provider cannot be placed under PDL; it is left
        # out rather than failing the login over commissions the clinician will not use.
        if commission is not None and commission.commission_hsa_id not in seen:
            seen[commission.commission_hsa_id] = commission
    return list(seen.values())


def _commission(source: Mapping[str, Any]) -> Commission | None:
    ids = [_text(source, INERA_CLAIMS[k])
           for k in ("commission_hsa_id", "care_unit_hsa_id", "care_provider_hsa_id", "commission_purpose")]
    if not all(ids):
        return None
    commission_id, unit, provider, purpose = ids
    return Commission(commission_hsa_id=commission_id, care_unit_hsa_id=unit, care_provider_hsa_id=provider,
                      purpose=purpose, rights=_rights(source.get(INERA_CLAIMS["commission_rights"])),
                      care_unit_name=_text(source, INERA_CLAIMS["care_unit_name"]))


def _rights(value: Any) -> tuple[str, ...]:
    """Write each right as "activity;information class;scope", the form HSA uses."""
    rights = []
    for right in value if isinstance(value, list) else [value]:
        if isinstance(right, Mapping):
            parts = (right.get("activity"), right.get("informationClass"), right.get("scope"))
            if all(isinstance(p, str) for p in parts):
                rights.append(";".join(str(p) for p in parts))
        elif isinstance(right, str) and right:
            rights.append(right)
    return tuple(rights)


def _text(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    return value.strip() if isinstance(value, str) else ""


def _texts(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(v for v in items if isinstance(v, str) and v)
