"""List the dev IdP's test people: BankID citizens, families, SITHS clinicians at the demo units.

Each person carries the claims the real provider would send — the Swedish OIDC claims for a
citizen, the Inera IdP's claims for a clinician — so the dev IdP can run them through the same
mappers as a real login, and the test OpenID provider can serve the very same people. The
numbers are Skatteverket's test personnummer (its open data set "Testpersonnummer"), and the
samordningsnummer the common textbook example; the HSA-ids are those of hub/demo_data/demo.json.
https://oidc.se/specifications/swedish-oidc-claims-specification-1_0.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.idp.oidc.claims import COORDINATION_NUMBER, INERA_CLAIMS, PERSONAL_IDENTITY_NUMBER
from adapters.idp.oidc.errors import UnknownTestUser
from cases.principals import CARE_PURPOSE
from mappings.personnummer import parse_personal_identity

NORR = ("SE2321000000-NORR", "Region Demo Norr")
SYD = ("SE2321000000-SYD", "Region Demo Syd")
RIGHTS = ("Läsa;Alla;Alla", "Skriva;Alla;Alla")
# The demo region's administrator may read its statistics (hub.statistics), and nobody's records.
STATISTICS_RIGHTS = ("Statistik;Alla;Alla",)


@dataclass(frozen=True)
class DevCitizen:
    """A citizen who logs in with (test) BankID."""

    person_id: str
    given_name: str
    family_name: str

    @property
    def label(self) -> str:
        """Name the person on the dev IdP's login page."""
        return f"{self.given_name} {self.family_name} ({self.person_id})"

    def claims(self) -> dict[str, Any]:
        """Return the claims a BankID broker following the Swedish OIDC profile would send."""
        identity = parse_personal_identity(self.person_id)
        number_claim = COORDINATION_NUMBER if identity.is_coordination_number else PERSONAL_IDENTITY_NUMBER
        return {number_claim: identity.number, "given_name": self.given_name,
                "family_name": self.family_name, "name": f"{self.given_name} {self.family_name}",
                "birthdate": identity.birth_date.isoformat()}


@dataclass(frozen=True)
class DevCommission:
    """One medarbetaruppdrag at a demo care unit."""

    commission_hsa_id: str
    care_unit_hsa_id: str
    care_unit_name: str
    care_provider: tuple[str, str]
    purpose: str = CARE_PURPOSE
    rights: tuple[str, ...] = RIGHTS

    def claims(self) -> dict[str, Any]:
        """Return the commission as the Inera IdP names its parts."""
        c = INERA_CLAIMS
        return {c["commission_hsa_id"]: self.commission_hsa_id,
                c["commission_name"]: f"{self.purpose}, {self.care_unit_name}",
                c["commission_purpose"]: self.purpose, c["commission_rights"]: list(self.rights),
                c["care_unit_hsa_id"]: self.care_unit_hsa_id, c["care_unit_name"]: self.care_unit_name,
                c["care_provider_hsa_id"]: self.care_provider[0], c["care_provider_name"]: self.care_provider[1]}


@dataclass(frozen=True)
class DevClinician:
    """A member of staff who logs in with (test) SITHS."""

    employee_hsa_id: str
    given_name: str
    family_name: str
    title: str
    licences: tuple[str, ...]
    commissions: tuple[DevCommission, ...]
    prescription_code: str = ""
    # The Inera IdP sends the commission chosen in its own dialogue as top-level claims; the
    # others send a list. Both shapes are served, so both stay tested.
    chosen_in_idp: bool = False

    @property
    def label(self) -> str:
        """Name the person on the dev IdP's login page."""
        return f"{self.given_name} {self.family_name}, {self.title} ({self.employee_hsa_id})"

    def claims(self) -> dict[str, Any]:
        """Return the claims the Inera IdP would send after a SITHS login."""
        c = INERA_CLAIMS
        claims: dict[str, Any] = {
            c["employee_hsa_id"]: self.employee_hsa_id, c["given_name"]: self.given_name,
            c["family_name"]: self.family_name, "name": f"{self.given_name} {self.family_name}",
            c["title"]: self.title, c["licences"]: list(self.licences)}
        if self.prescription_code:
            claims[c["prescription_code"]] = self.prescription_code
        if self.chosen_in_idp and len(self.commissions) == 1:
            claims.update(self.commissions[0].claims())
        else:
            claims[c["commissions"]] = [commission.claims() for commission in self.commissions]
        return claims


@dataclass(frozen=True)
class DevDirectory:
    """The dev IdP's people and the families the fake population register knows."""

    citizens: tuple[DevCitizen, ...]
    clinicians: tuple[DevClinician, ...]
    families: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def person(self, user_id: str) -> DevCitizen | DevClinician:
        """Return the test person with this personnummer or employee HSA-id."""
        for citizen in self.citizens:
            if citizen.person_id == user_id:
                return citizen
        for clinician in self.clinicians:
            if clinician.employee_hsa_id == user_id:
                return clinician
        raise UnknownTestUser(f"the dev IdP has no test person {user_id!r}")

    def op_accounts(self) -> dict[str, dict[str, Any]]:
        """Return every person's claims by login id, for the test OpenID provider's accounts."""
        accounts = {c.person_id: c.claims() for c in self.citizens}
        accounts.update({c.employee_hsa_id: c.claims() for c in self.clinicians})
        return accounts


def demo_directory() -> DevDirectory:
    """Return the demo people: test citizens, one family, clinicians at the demo units."""
    dig1 = ("SE2321000000-DIG1", "Digitala mottagningen Norr", NORR)
    vc01 = ("SE2321000000-VC01", "Vårdcentralen Norrstaden", NORR)
    vc02 = ("SE2321000000-VC02", "Vårdcentralen Söderhamnen", SYD)
    psy1 = ("SE2321000000-PSY1", "Psykologmottagningen Syd", SYD)

    def at(commission_id: str, unit: tuple[str, str, tuple[str, str]], purpose: str = CARE_PURPOSE,
           rights: tuple[str, ...] = RIGHTS) -> DevCommission:
        return DevCommission(commission_id, unit[0], unit[1], unit[2], purpose, rights)

    return DevDirectory(
        citizens=(
            DevCitizen("191212121212", "Tolvan", "Tolvansson"),
            DevCitizen("198112189876", "Anders", "Testsson"),
            DevCitizen("201401022387", "Lilly", "Testsson"),
            DevCitizen("197010632391", "Sam", "Samordnad"),
        ),
        clinicians=(
            DevClinician("SE2321000000-P001", "Anna", "Lind", "Sjuksköterska", ("SJ",),
                          (at("SE2321000000-P001-digital-norr", dig1),)),
            DevClinician("SE2321000000-P002", "Erik", "Berg", "Läkare", ("LK",),
                          (at("SE2321000000-P002-digital-norr", dig1), at("SE2321000000-P002-vc-norr", vc01)),
                          prescription_code="1234567"),
            DevClinician("SE2321000000-P003", "Maria", "Holm", "Sjuksköterska", ("SJ",),
                          (at("SE2321000000-P003-vc-syd", vc02),), chosen_in_idp=True),
            DevClinician("SE2321000000-P004", "Jonas", "Ek", "Psykolog", ("PS",),
                          (at("SE2321000000-P004-psyk-syd", psy1),
                           at("SE2321000000-P004-kvalitet", psy1, "Kvalitetssäkring"))),
            DevClinician("SE2321000000-A001", "Alva", "Admin", "Administratör", (),
                          (at("SE2321000000-A001-admin-norr", dig1, "Administration", STATISTICS_RIGHTS),)),
        ),
        families={"198112189876": ("201401022387",)},
    )
