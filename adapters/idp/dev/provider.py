"""Log test people in without BankID or SITHS, for the embedded default and the tests.

The dev IdP takes a choice from a list instead of an identity check, then runs the person's
claims through the same mappers a real BankID or SITHS login goes through, so what it gives is
exactly what the real identity providers would give for that person. It refuses to exist in
production mode: anyone could log in as anyone (DESIGN.md, "Identity and access").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from adapters.idp.dev.people import DevCitizen, DevClinician, DevDirectory, demo_directory
from adapters.idp.dev.population import InMemoryPopulationRegister, PopulationRegister, act_for_child
from adapters.idp.oidc.claims import StaffLogin, citizen_from_claims, staff_login_from_claims
from adapters.idp.oidc.errors import UnknownCommission, UnknownTestUser
from cases.principals import Citizen, Clinician, Guardian, Principal


class DevIdpRefused(RuntimeError):
    """The dev IdP was asked to start in production mode."""


@dataclass(frozen=True)
class DevChoice:
    """One entry on the dev IdP's login page."""

    user_id: str
    label: str
    kind: str


class DevIdentityProvider:
    """Log in as any test person by choosing them; never available in production."""

    def __init__(self, *, mode: str, directory: DevDirectory | None = None,
                 register: PopulationRegister | None = None,
                 today: Callable[[], date] = date.today) -> None:
        if mode == "production":
            raise DevIdpRefused(
                "the dev IdP lets anyone log in as anyone and cannot run in production mode; "
                "configure the BankID and SITHS identity providers instead, or set INGANG_MODE=development")
        self.directory = directory or demo_directory()
        self.register = register or InMemoryPopulationRegister(self.directory.families)
        self._today = today

    def choices(self) -> list[DevChoice]:
        """List who can log in, citizens first, for the login page."""
        citizens = [DevChoice(c.person_id, c.label, "citizen") for c in self.directory.citizens]
        staff = [DevChoice(c.employee_hsa_id, c.label, "clinician") for c in self.directory.clinicians]
        return citizens + staff

    def login(self, user_id: str, *, commission_hsa_id: str | None = None, child: str | None = None) -> Principal:
        """Log the chosen person in, as the chosen commission's clinician or as the chosen child's guardian."""
        person = self.directory.person(user_id)
        if isinstance(person, DevCitizen):
            citizen = citizen_from_claims(person.claims(), self._today())
            return citizen if child is None else self.act_for_child(citizen, child)
        staff = staff_login_from_claims(person.claims())
        if commission_hsa_id is None and staff.sole_commission is None:
            offered = ", ".join(c.commission_hsa_id for c in staff.commissions)
            raise UnknownCommission(f"{user_id} has several commissions for care; choose one of {offered}")
        return staff.choose(commission_hsa_id or staff.commissions[0].commission_hsa_id)

    def login_citizen(self, person_id: str) -> Citizen:
        """Log a test citizen in, as a BankID login through an OpenID provider would."""
        person = self.directory.person(person_id)
        if not isinstance(person, DevCitizen):
            raise UnknownTestUser(f"{person_id!r} is a clinician, not a citizen")
        return citizen_from_claims(person.claims(), self._today())

    def login_clinician(self, employee_hsa_id: str) -> StaffLogin:
        """Log a test clinician in, as a SITHS login through the Inera IdP would."""
        person = self.directory.person(employee_hsa_id)
        if not isinstance(person, DevClinician):
            raise UnknownTestUser(f"{employee_hsa_id!r} is a citizen, not a clinician")
        return staff_login_from_claims(person.claims())

    def login_clinician_under(self, employee_hsa_id: str, commission_hsa_id: str) -> Clinician:
        """Log a test clinician in under the commission they choose."""
        return self.login_clinician(employee_hsa_id).choose(commission_hsa_id)

    def act_for_child(self, citizen: Citizen, child: str) -> Guardian:
        """Let a logged-in citizen act for a child, if the fake population register agrees."""
        return act_for_child(citizen, child, self.register, self._today())
