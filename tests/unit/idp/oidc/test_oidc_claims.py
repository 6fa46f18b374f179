"""Claims to principals: BankID citizens with validated numbers, SITHS clinicians under one commission."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from adapters.idp.oidc.claims import (
    COORDINATION_NUMBER,
    INERA_CLAIMS,
    PERSONAL_IDENTITY_NUMBER,
    choose_commission,
    citizen_from_claims,
    staff_login_from_claims,
)
from adapters.idp.oidc.errors import InvalidIdentityClaims, NoEligibleCommission, UnknownCommission
from cases.principals import Citizen, Clinician, Commission

TODAY = date(2025, 6, 1)


def commission(hsa_id: str, unit: str = "SE2321000000-DIG1", purpose: str = "Vård och behandling",
               **extra: Any) -> dict[str, Any]:
    return {"commissionHsaId": hsa_id, "commissionPurpose": purpose, "healthCareUnitHsaId": unit,
            "healthCareUnitName": "Digitala mottagningen Norr", "healthCareProviderHsaId": "SE2321000000-NORR",
            **extra}


def staff(*commissions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"employeeHsaId": "SE2321000000-P002", "given_name": "Erik", "family_name": "Berg", "title": "Läkare",
            "healthcareProfessionalLicense": ["LK"], "personalPrescriptionCode": "1234567",
            "commissions": list(commissions), **extra}


def test_a_bankid_login_gives_a_citizen_with_the_canonical_number() -> None:
    claims = {PERSONAL_IDENTITY_NUMBER: "191212121212", "given_name": "Tolvan", "family_name": "Tolvansson",
              "name": "Tolvan Tolvansson"}
    assert citizen_from_claims(claims, TODAY) == Citizen("191212121212", "Tolvan", "Tolvansson")


def test_a_number_sent_in_short_form_is_made_canonical() -> None:
    assert citizen_from_claims({PERSONAL_IDENTITY_NUMBER: "121212+1212"}, TODAY).person_id == "191212121212"


def test_a_samordningsnummer_gives_a_citizen_marked_as_coordination_number() -> None:
    citizen = citizen_from_claims({COORDINATION_NUMBER: "197010632391"}, TODAY)
    assert citizen.coordination_number
    assert citizen.person_id == "197010632391"


def test_a_samordningsnummer_in_the_personnummer_claim_is_still_recognised() -> None:
    assert citizen_from_claims({PERSONAL_IDENTITY_NUMBER: "197010632391"}, TODAY).coordination_number


def test_a_personnummer_in_the_coordination_number_claim_is_refused() -> None:
    with pytest.raises(InvalidIdentityClaims, match="holds a personnummer"):
        citizen_from_claims({COORDINATION_NUMBER: "191212121212"}, TODAY)


def test_a_number_with_a_wrong_check_digit_is_refused_with_the_reason() -> None:
    with pytest.raises(InvalidIdentityClaims,
                       match="personalIdentityNumber claim is not a valid number: the check digit should be 2, not 3"):
        citizen_from_claims({PERSONAL_IDENTITY_NUMBER: "191212121213"}, TODAY)


@pytest.mark.parametrize(("claims", "reason"), [
    ({}, "neither a personnummer nor a samordningsnummer"),
    ({PERSONAL_IDENTITY_NUMBER: 191212121212}, "not a string"),
    ({PERSONAL_IDENTITY_NUMBER: "191212121212", COORDINATION_NUMBER: "197010632391"}, "two different numbers"),
])
def test_claims_that_do_not_name_one_person_are_refused(claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidIdentityClaims, match=reason):
        citizen_from_claims(claims, TODAY)


def test_a_siths_login_offers_the_commissions_for_care_only() -> None:
    login = staff_login_from_claims(staff(commission("C1"), commission("C2", purpose="Statistik"),
                                          commission("C3", unit="SE2321000000-VC01")))
    assert [c.commission_hsa_id for c in login.commissions] == ["C1", "C3"]
    assert login.sole_commission is None
    assert (login.employee_hsa_id, login.profession, login.licences, login.prescription_code) == (
        "SE2321000000-P002", "Läkare", ("LK",), "1234567")


def test_choosing_a_commission_gives_a_clinician_acting_under_it() -> None:
    claims = staff(commission("C1", commissionRight=["Läsa;Alla;Alla"]), commission("C3", unit="SE2321000000-VC01"))
    assert choose_commission(claims, "C1") == Clinician(
        employee_hsa_id="SE2321000000-P002",
        commission=Commission("C1", "SE2321000000-DIG1", "SE2321000000-NORR", rights=("Läsa;Alla;Alla",),
                              care_unit_name="Digitala mottagningen Norr"),
        given_name="Erik", family_name="Berg", profession="Läkare", licences=("LK",))


def test_a_commission_chosen_in_the_idp_arrives_as_top_level_claims() -> None:
    claims = {"employeeHsaId": "SE2321000000-P003", **commission("C9", unit="SE2321000000-VC02")}
    login = staff_login_from_claims(claims)
    assert login.sole_commission is not None
    assert login.sole_commission.care_unit_hsa_id == "SE2321000000-VC02"


def test_a_commission_sent_both_ways_is_offered_once() -> None:
    claims = staff(commission("C1"), **commission("C1"))
    assert len(staff_login_from_claims(claims).commissions) == 1


def test_rights_sent_as_objects_are_written_the_hsa_way() -> None:
    rights = [{"activity": "Läsa", "informationClass": "Alla", "scope": "SJF"}, {"activity": "Skriva"}, "Skriva;Alla;Alla"]
    login = staff_login_from_claims(staff(commission("C1", commissionRight=rights)))
    assert login.commissions[0].rights == ("Läsa;Alla;SJF", "Skriva;Alla;Alla")


def test_a_commission_missing_its_care_unit_is_left_out() -> None:
    broken = commission("C0")
    del broken["healthCareUnitHsaId"]
    login = staff_login_from_claims(staff(broken, commission("C1")))
    assert [c.commission_hsa_id for c in login.commissions] == ["C1"]


def test_a_clinician_with_no_commission_for_care_is_told_which_purposes_they_have() -> None:
    with pytest.raises(NoEligibleCommission,
                       match="SE2321000000-P002 has no commission for Vård och behandling; the commissions found "
                             "are for Administration, Statistik"):
        staff_login_from_claims(staff(commission("C1", purpose="Statistik"), commission("C2", purpose="Administration")))


def test_a_clinician_with_no_commission_at_all_is_told_so() -> None:
    with pytest.raises(NoEligibleCommission, match="none was found"):
        staff_login_from_claims(staff())
    assert NoEligibleCommission.status == 403


def test_a_commission_that_is_not_theirs_or_not_for_care_cannot_be_chosen() -> None:
    claims = staff(commission("C1"), commission("C2", purpose="Statistik"))
    for other in ("C2", "SOMEONE-ELSES"):
        with pytest.raises(UnknownCommission, match=f"'{other}' is not one of the commissions you may use here.*choose one of C1"):
            choose_commission(claims, other)


def test_a_siths_login_without_an_employee_hsa_id_is_refused() -> None:
    with pytest.raises(InvalidIdentityClaims, match="no employeeHsaId"):
        staff_login_from_claims({"commissions": [commission("C1")]})


def test_the_inera_claim_names_are_kept_in_one_table() -> None:
    assert INERA_CLAIMS["employee_hsa_id"] == "employeeHsaId"
    assert INERA_CLAIMS["commission_purpose"] == "commissionPurpose"
    assert len(set(INERA_CLAIMS.values())) == len(INERA_CLAIMS)
