"""The dev IdP: test people in, the same principals out, guardians only by the register, never in production."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources

import pytest

from adapters.idp.dev import (
    DevIdentityProvider,
    DevIdpRefused,
    InMemoryPopulationRegister,
    act_for_child,
    demo_directory,
)
from adapters.idp.oidc import citizen_from_claims, staff_login_from_claims
from adapters.idp.oidc.errors import (
    LoginError,
    NoEligibleCommission,
    NotGuardian,
    UnknownCommission,
    UnknownTestUser,
)
from cases.principals import Citizen, Clinician, Guardian

TODAY = date(2025, 6, 1)
ANNA, LILLY, TOLVAN = "198112189876", "201401022387", "191212121212"


@pytest.fixture
def idp() -> DevIdentityProvider:
    return DevIdentityProvider(mode="development", today=lambda: TODAY)


def test_the_dev_idp_refuses_to_start_in_production_mode() -> None:
    with pytest.raises(DevIdpRefused, match="cannot run in production mode"):
        DevIdentityProvider(mode="production")


def test_the_login_page_lists_citizens_first_then_clinicians(idp: DevIdentityProvider) -> None:
    kinds = [choice.kind for choice in idp.choices()]
    assert kinds == sorted(kinds)
    assert idp.choices()[0].label == "Tolvan Tolvansson (191212121212)"


def test_choosing_a_person_gives_what_their_real_login_would(idp: DevIdentityProvider) -> None:
    for person in idp.directory.citizens:
        assert idp.login(person.person_id) == citizen_from_claims(person.claims(), TODAY)
    for clinician in idp.directory.clinicians[:4]:
        staff = staff_login_from_claims(clinician.claims())
        assert idp.login_clinician(clinician.employee_hsa_id) == staff
        chosen = staff.commissions[-1].commission_hsa_id
        assert idp.login(clinician.employee_hsa_id, commission_hsa_id=chosen) == staff.choose(chosen)


def test_a_clinician_with_one_commission_for_care_needs_no_choice(idp: DevIdentityProvider) -> None:
    clinician = idp.login("SE2321000000-P004")
    assert isinstance(clinician, Clinician)
    assert clinician.commission.commission_hsa_id == "SE2321000000-P004-psyk-syd"


def test_a_clinician_with_several_commissions_for_care_must_choose(idp: DevIdentityProvider) -> None:
    with pytest.raises(UnknownCommission, match="choose one of SE2321000000-P002-digital-norr, SE2321000000-P002-vc-norr"):
        idp.login("SE2321000000-P002")


def test_choosing_a_child_gives_a_guardian(idp: DevIdentityProvider) -> None:
    guardian = idp.login(ANNA, child=LILLY)
    assert isinstance(guardian, Guardian)
    assert (guardian.citizen.person_id, guardian.child_person_id, guardian.kind) == (ANNA, LILLY, "guardian")


def test_a_test_citizen_logs_in_as_a_citizen(idp: DevIdentityProvider) -> None:
    assert idp.login_citizen(TOLVAN) == Citizen(TOLVAN, "Tolvan", "Tolvansson")


def test_a_test_clinician_logs_in_under_a_commission_at_a_demo_unit(idp: DevIdentityProvider) -> None:
    clinician = idp.login_clinician_under("SE2321000000-P001", "SE2321000000-P001-digital-norr")
    assert clinician.commission.care_unit_hsa_id == "SE2321000000-DIG1"
    assert clinician.commission.for_care


def test_a_clinician_without_a_commission_for_care_cannot_log_in(idp: DevIdentityProvider) -> None:
    with pytest.raises(NoEligibleCommission):
        idp.login("SE2321000000-A001")


@pytest.mark.parametrize(("call", "user"), [("login", "nobody"), ("login_citizen", "SE2321000000-P001"),
                                            ("login_clinician", TOLVAN)])
def test_a_choice_that_is_not_a_test_person_of_that_kind_is_a_login_error(idp: DevIdentityProvider, call: str,
                                                                          user: str) -> None:
    with pytest.raises(UnknownTestUser):
        getattr(idp, call)(user)
    assert issubclass(UnknownTestUser, LoginError)


def test_a_guardian_the_register_confirms_may_act_for_their_child(idp: DevIdentityProvider) -> None:
    anna = idp.login_citizen(ANNA)
    assert idp.act_for_child(anna, "140102-2387") == Guardian(citizen=anna, child_person_id=LILLY)
    assert idp.register.children_of(ANNA) == (LILLY,)
    assert idp.register.guardians_of(LILLY) == (ANNA,)


def test_someone_the_register_does_not_list_as_guardian_may_not(idp: DevIdentityProvider) -> None:
    with pytest.raises(NotGuardian, match="does not list you as the child's guardian"):
        idp.act_for_child(idp.login_citizen(TOLVAN), LILLY)


def test_a_guardian_may_not_act_for_a_child_who_has_turned_eighteen() -> None:
    register = InMemoryPopulationRegister({ANNA: (LILLY,)})
    anna = Citizen(ANNA, "Anders", "Testsson")
    assert act_for_child(anna, LILLY, register, date(2032, 1, 1)).child_person_id == LILLY
    with pytest.raises(NotGuardian, match="18 or older"):
        act_for_child(anna, LILLY, register, date(2032, 1, 2))


def test_a_register_that_answers_only_one_way_is_no_confirmation() -> None:
    class HalfRegister:
        def guardians_of(self, child: str) -> tuple[str, ...]:
            return (ANNA,)

        def children_of(self, guardian: str) -> tuple[str, ...]:
            return ()

    with pytest.raises(NotGuardian):
        act_for_child(Citizen(ANNA), LILLY, HalfRegister(), TODAY)


def test_an_invalid_child_number_is_refused_with_the_reason() -> None:
    with pytest.raises(NotGuardian, match="the check digit should be 7, not 8"):
        act_for_child(Citizen(ANNA), "201401022388", InMemoryPopulationRegister({}), TODAY)


def test_the_test_people_are_those_of_the_demo_data() -> None:
    demo = json.loads(resources.files("hub.demo_data").joinpath("demo.json").read_text(encoding="utf-8"))
    ids = {r["resource"]["resourceType"]: set() for r in demo}
    for item in demo:
        ids[item["resource"]["resourceType"]].add(item["resource"]["identifier"][0]["value"])
    directory = demo_directory()
    assert {c.person_id for c in directory.citizens} - ids["Patient"] == {"197010632391"}
    units = {m.care_unit_hsa_id for c in directory.clinicians for m in c.commissions}
    assert units <= ids["Organization"]
    assert {m.care_provider[0] for c in directory.clinicians for m in c.commissions} <= ids["Organization"]
    staff = {c.employee_hsa_id for c in directory.clinicians}
    assert staff - ids["Practitioner"] == {"SE2321000000-A001"}
