"""Login gives a Principal: one suite, run against the dev IdP and against a real OpenID provider.

Both are driven with the same test people (the dev IdP's directory is the provider's account
list), so every assertion here holds for both, and so the dev IdP gives exactly what a real
BankID or SITHS login would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest

from adapters.idp.dev import DevCitizen, DevClinician, DevIdentityProvider, demo_directory
from adapters.idp.oidc import (
    CITIZEN_SCOPES,
    StaffLogin,
    citizen_from_claims,
    staff_login_from_claims,
)
from adapters.idp.oidc.errors import LoginError, NoEligibleCommission, UnknownCommission
from cases.principals import CARE_PURPOSE, SAMORDNINGSNUMMER_SYSTEM, Citizen
from mappings.personnummer import parse_personal_identity
from tests.integration.idp.op_process import (
    SITHS_SCOPES,
    RunningProvider,
    login,
    private_key_set,
    start_provider,
)

DIRECTORY = demo_directory()


class Logins(Protocol):
    def citizen(self, person_id: str) -> Citizen: ...

    def staff(self, employee_hsa_id: str) -> StaffLogin: ...


class DevLogins:
    """Log in by choosing a person in the dev IdP."""

    def __init__(self) -> None:
        self.idp = DevIdentityProvider(mode="development")

    def citizen(self, person_id: str) -> Citizen:
        return self.idp.login_citizen(person_id)

    def staff(self, employee_hsa_id: str) -> StaffLogin:
        return self.idp.login_clinician(employee_hsa_id)


class ProviderLogins:
    """Log in through the whole code flow at a real OpenID provider."""

    def __init__(self, provider: RunningProvider) -> None:
        self.citizens = provider.relying_party(scopes=CITIZEN_SCOPES)
        self.clinicians = provider.relying_party(scopes=SITHS_SCOPES)

    def citizen(self, person_id: str) -> Citizen:
        return citizen_from_claims(login(self.citizens, person_id).claims)

    def staff(self, employee_hsa_id: str) -> StaffLogin:
        return staff_login_from_claims(login(self.clinicians, employee_hsa_id).claims)


@pytest.fixture(scope="module")
def openid_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProvider]:
    provider = start_provider(tmp_path_factory.mktemp("op"), DIRECTORY.op_accounts(), keys=private_key_set("contract"))
    yield provider
    provider.stop()


@pytest.fixture(params=["dev-idp", "openid-provider"])
def logins(request: pytest.FixtureRequest) -> Logins:
    if request.param == "dev-idp":
        return DevLogins()
    return ProviderLogins(request.getfixturevalue("openid_provider"))


@pytest.mark.parametrize("person", DIRECTORY.citizens, ids=lambda p: p.person_id)
def test_a_test_citizen_logs_in_as_a_citizen_with_a_valid_twelve_digit_number(logins: Logins,
                                                                             person: DevCitizen) -> None:
    citizen = logins.citizen(person.person_id)
    identity = parse_personal_identity(citizen.person_id)
    assert citizen.person_id == identity.number == person.person_id
    assert (citizen.given_name, citizen.family_name) == (person.given_name, person.family_name)
    assert citizen.coordination_number is identity.is_coordination_number


def test_a_samordningsnummer_gives_a_citizen_with_the_samordningsnummer_system(logins: Logins) -> None:
    assert logins.citizen("197010632391").identifier_system == SAMORDNINGSNUMMER_SYSTEM


@pytest.mark.parametrize("person", [c for c in DIRECTORY.clinicians if any(
    m.purpose == CARE_PURPOSE for m in c.commissions)], ids=lambda p: p.employee_hsa_id)
def test_a_clinician_is_offered_exactly_their_commissions_for_care(logins: Logins, person: DevClinician) -> None:
    staff = logins.staff(person.employee_hsa_id)
    expected = [(m.commission_hsa_id, m.care_unit_hsa_id, m.care_provider[0])
                for m in person.commissions if m.purpose == CARE_PURPOSE]
    assert [(c.commission_hsa_id, c.care_unit_hsa_id, c.care_provider_hsa_id) for c in staff.commissions] == expected
    assert all(c.for_care for c in staff.commissions)


def test_a_chosen_commission_gives_a_clinician_at_that_unit(logins: Logins) -> None:
    clinician = logins.staff("SE2321000000-P002").choose("SE2321000000-P002-digital-norr")
    assert clinician.employee_hsa_id == "SE2321000000-P002"
    assert clinician.commission.care_unit_hsa_id == "SE2321000000-DIG1"
    assert clinician.commission.care_unit_name == "Digitala mottagningen Norr"
    assert (clinician.given_name, clinician.family_name, clinician.profession) == ("Erik", "Berg", "Läkare")
    assert clinician.licences == ("LK",)
    assert clinician.kind == "clinician"


def test_a_commission_for_another_purpose_cannot_be_chosen(logins: Logins) -> None:
    with pytest.raises(UnknownCommission):
        logins.staff("SE2321000000-P004").choose("SE2321000000-P004-kvalitet")


def test_a_clinician_with_no_commission_for_care_gets_a_login_error_saying_so(logins: Logins) -> None:
    with pytest.raises(NoEligibleCommission, match="no commission for Vård och behandling"):
        logins.staff("SE2321000000-A001")


def test_an_unknown_person_gets_a_login_error(logins: Logins) -> None:
    with pytest.raises(LoginError):
        logins.citizen("190001010000")


def test_the_dev_idp_gives_the_same_principals_as_the_real_provider(openid_provider: RunningProvider) -> None:
    dev, real = DevLogins(), ProviderLogins(openid_provider)
    for citizen in DIRECTORY.citizens:
        assert dev.citizen(citizen.person_id) == real.citizen(citizen.person_id)
    for clinician in DIRECTORY.clinicians[:4]:
        assert dev.staff(clinician.employee_hsa_id) == real.staff(clinician.employee_hsa_id)
