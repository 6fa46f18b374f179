"""Say who is acting: a citizen, a guardian, a clinician under a commission, or a system.

Every identity provider (BankID through OIDC, the BankID RP API, SITHS through the Inera
IdP, the dev IdP, SMART backend clients) is turned into one of these at the adapter
boundary; the rest of the hub never sees an IdP's claims. Access rules and the PDL audit
trail are written against these types only.
https://hl7.org/fhir/R4/auditevent.html
"""

from __future__ import annotations

from dataclasses import dataclass, field

PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER_SYSTEM = "http://electronichealth.se/identifier/samordningsnummer"
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"
CARE_PURPOSE = "Vård och behandling"


@dataclass(frozen=True)
class Citizen:
    """A person logged in for themselves, by personnummer or samordningsnummer (12 digits)."""

    person_id: str
    given_name: str = ""
    family_name: str = ""
    coordination_number: bool = False

    @property
    def identifier_system(self) -> str:
        """Return the identifier system the person's number belongs to."""
        return SAMORDNINGSNUMMER_SYSTEM if self.coordination_number else PERSONNUMMER_SYSTEM

    @property
    def kind(self) -> str:
        """Name the kind of principal, for logs and the access matrix."""
        return "citizen"


@dataclass(frozen=True)
class Guardian:
    """A citizen acting for a child whose custody the population register has confirmed."""

    citizen: Citizen
    child_person_id: str

    @property
    def kind(self) -> str:
        """Name the kind of principal."""
        return "guardian"


@dataclass(frozen=True)
class Commission:
    """One assignment (medarbetaruppdrag) a clinician may act under."""

    commission_hsa_id: str
    care_unit_hsa_id: str
    care_provider_hsa_id: str
    purpose: str = CARE_PURPOSE
    rights: tuple[str, ...] = ()
    care_unit_name: str = ""

    @property
    def for_care(self) -> bool:
        """Tell whether the commission's purpose lets it be used for care (PDL)."""
        return self.purpose == CARE_PURPOSE


@dataclass(frozen=True)
class Clinician:
    """A member of staff acting under one commission, at one care unit."""

    employee_hsa_id: str
    commission: Commission
    given_name: str = ""
    family_name: str = ""
    profession: str = ""
    licences: tuple[str, ...] = ()
    emergency_access: tuple[str, ...] = field(default=())

    @property
    def kind(self) -> str:
        """Name the kind of principal."""
        return "clinician"


@dataclass(frozen=True)
class RegionalSystem:
    """A region's system calling with client credentials, limited to its region's units."""

    client_id: str
    region: str
    scopes: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """Name the kind of principal."""
        return "system"


Principal = Citizen | Guardian | Clinician | RegionalSystem
