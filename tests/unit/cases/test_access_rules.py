"""The pure access rules: who may do what to which kind of resource, and whose data a citizen reaches."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cases.access import (
    Action,
    CustodyPolicy,
    HubItself,
    Kind,
    Reach,
    Verdict,
    WriteFacts,
    action_of,
    emergency_ruling,
    grant_expiry,
    guardian_may_act_for,
    is_log_reviewer,
    kind_of,
    must_audit,
    persons_in_reach,
    purpose_of_use,
    reach,
    rule_for,
    scope_contexts,
    write_ruling,
)
from cases.principals import Citizen, Clinician, Commission, Guardian, RegionalSystem

TODAY = date(2025, 3, 1)
ANDERS = Citizen("198112189876")
LILLY = "201401022387"  # 11 on TODAY
TEO = "201105202384"  # 13 on TODAY
GUARDIAN = Guardian(ANDERS, LILLY)
NURSE = Clinician("SE-P001", Commission("SE-C1", "SE-DIG1", "SE-NORR"))
ADMIN = Clinician("SE-A001", Commission("SE-C2", "SE-DIG1", "SE-NORR", purpose="Administration"))
REVIEWER = Clinician("SE-L001", Commission("SE-C3", "SE-VC01", "SE-NORR", purpose="Administration",
                                           rights=("Logggranskning;Alla;Alla",)))
SYSTEM = RegionalSystem("journal-norr", "SE-NORR")


def verdict(actor: object, res_type: str | None, action: Action, **kw: object) -> Verdict:
    return rule_for(actor, res_type, action, **kw).verdict  # type: ignore[arg-type]


@pytest.mark.parametrize(("res_type", "kind"), [
    ("Questionnaire", Kind.PUBLIC), ("CodeSystem", Kind.PUBLIC), ("CapabilityStatement", Kind.PUBLIC),
    ("Organization", Kind.DIRECTORY), ("Slot", Kind.DIRECTORY), ("AuditEvent", Kind.AUDIT),
    ("Encounter", Kind.PATIENT), ("Binary", Kind.PATIENT), ("Observation", Kind.PATIENT),
])
def test_kind_of__sorts_types_and_treats_anything_unlisted_as_patient_data(res_type: str, kind: Kind) -> None:
    assert kind_of(res_type) is kind


def test_action_of__maps_fhir_interactions_and_treats_patch_as_update() -> None:
    assert action_of("vread") is Action.READ
    assert action_of("patch") is Action.UPDATE
    assert action_of("history") is Action.HISTORY
    assert action_of("something-new") is Action.OPERATION


@pytest.mark.parametrize("action", [Action.READ, Action.SEARCH, Action.HISTORY])
def test_anonymous_callers__read_public_resources_only(action: Action) -> None:
    assert verdict(None, "Questionnaire", action) is Verdict.OPEN
    assert verdict(None, "Organization", action) is Verdict.LOGIN
    assert verdict(None, "Patient", action) is Verdict.LOGIN


def test_anonymous_callers__may_run_the_assessment_but_nothing_else() -> None:
    assert verdict(None, "Questionnaire", Action.OPERATION, operation="next-question") is Verdict.OPEN
    assert verdict(None, "Patient", Action.OPERATION, operation="validate") is Verdict.LOGIN
    assert verdict(None, "Questionnaire", Action.CREATE) is Verdict.LOGIN


@pytest.mark.parametrize("actor", [None, ANDERS, NURSE, REVIEWER, SYSTEM, HubItself()])
@pytest.mark.parametrize("action", [Action.UPDATE, Action.DELETE])
def test_the_access_log__cannot_be_changed_or_deleted_by_anyone(actor: object, action: Action) -> None:
    assert verdict(actor, "AuditEvent", action) is Verdict.NOT_ALLOWED


@pytest.mark.parametrize("actor", [ANDERS, NURSE, REVIEWER, SYSTEM])
def test_the_access_log__is_written_by_the_hub_only(actor: object) -> None:
    assert verdict(actor, "AuditEvent", Action.CREATE) is Verdict.FORBIDDEN


def test_the_access_log__is_read_by_citizens_and_log_reviewers_only() -> None:
    assert verdict(ANDERS, "AuditEvent", Action.SEARCH) is Verdict.VISIBLE
    assert verdict(REVIEWER, "AuditEvent", Action.SEARCH) is Verdict.VISIBLE
    assert verdict(NURSE, "AuditEvent", Action.SEARCH) is Verdict.FORBIDDEN
    assert verdict(SYSTEM, "AuditEvent", Action.READ) is Verdict.FORBIDDEN
    assert reach(ANDERS, "AuditEvent") is Reach.OWN_LOG
    assert reach(REVIEWER, "AuditEvent") is Reach.PROVIDER_LOG
    assert reach(NURSE, "AuditEvent") is Reach.NOTHING


def test_the_log_review_right__is_the_first_part_of_a_commission_right_and_configurable() -> None:
    assert is_log_reviewer(REVIEWER)
    assert not is_log_reviewer(NURSE)
    assert not is_log_reviewer(ANDERS)
    custom = Clinician("x", Commission("c", "u", "p", rights=("Loggkontroll",)))
    assert is_log_reviewer(custom, "loggkontroll")


def test_directory_data__is_read_by_anyone_logged_in_and_written_by_regional_systems() -> None:
    for actor in (ANDERS, NURSE, ADMIN, SYSTEM):
        assert verdict(actor, "PractitionerRole", Action.READ) is Verdict.OPEN
        assert reach(actor, "PractitionerRole") is Reach.EVERYTHING
    assert verdict(SYSTEM, "Organization", Action.UPDATE) is Verdict.VISIBLE
    assert verdict(NURSE, "Organization", Action.UPDATE) is Verdict.FORBIDDEN
    assert verdict(SYSTEM, "Organization", Action.UPDATE, scope_ok=False) is Verdict.FORBIDDEN


def test_citizens__create_answers_messages_and_photos_only() -> None:
    for res_type in ("QuestionnaireResponse", "Communication", "Media", "Binary"):
        assert verdict(ANDERS, res_type, Action.CREATE) is Verdict.VISIBLE
    for res_type in ("Task", "Encounter", "Patient", "Appointment", "Consent"):
        assert verdict(GUARDIAN, res_type, Action.CREATE) is Verdict.FORBIDDEN


def test_citizens__never_update_tasks_or_encounters_and_never_delete() -> None:
    assert verdict(ANDERS, "Task", Action.UPDATE) is Verdict.FORBIDDEN
    assert verdict(ANDERS, "Encounter", Action.UPDATE) is Verdict.FORBIDDEN
    assert verdict(ANDERS, "QuestionnaireResponse", Action.UPDATE) is Verdict.VISIBLE
    assert verdict(ANDERS, "QuestionnaireResponse", Action.DELETE) is Verdict.FORBIDDEN


def test_clinicians__need_a_commission_for_care_to_reach_patient_data() -> None:
    assert verdict(NURSE, "Encounter", Action.READ) is Verdict.VISIBLE
    assert verdict(ADMIN, "Encounter", Action.READ) is Verdict.FORBIDDEN
    assert reach(NURSE, "Encounter") is Reach.CASES
    assert reach(ADMIN, "Encounter") is Reach.NOTHING


def test_patient_data__is_never_deleted_and_provenance_never_rewritten() -> None:
    for actor in (NURSE, SYSTEM, ANDERS):
        assert verdict(actor, "Encounter", Action.DELETE) is Verdict.FORBIDDEN
    assert verdict(NURSE, "Provenance", Action.UPDATE) is Verdict.FORBIDDEN
    assert verdict(HubItself(), "Encounter", Action.DELETE) is Verdict.OPEN


def test_type_and_system_history__are_closed_to_callers_who_see_only_part_of_the_data() -> None:
    assert verdict(NURSE, "Encounter", Action.HISTORY) is Verdict.FORBIDDEN
    assert verdict(NURSE, "Encounter", Action.HISTORY, instance=True) is Verdict.VISIBLE
    assert verdict(NURSE, None, Action.HISTORY) is Verdict.FORBIDDEN
    assert verdict(NURSE, None, Action.SEARCH) is Verdict.VISIBLE
    assert verdict(NURSE, "Organization", Action.HISTORY) is Verdict.OPEN


def test_conditional_writes_on_patient_data__are_refused_because_they_would_match_hidden_resources() -> None:
    assert verdict(NURSE, "Encounter", Action.UPDATE, conditional=True) is Verdict.FORBIDDEN
    assert verdict(SYSTEM, "Organization", Action.UPDATE, conditional=True) is Verdict.VISIBLE


def test_scopes__limit_what_a_principal_may_otherwise_do() -> None:
    assert verdict(NURSE, "Encounter", Action.READ, scope_ok=False) is Verdict.FORBIDDEN
    assert verdict(NURSE, "Organization", Action.READ, scope_ok=False) is Verdict.OPEN
    assert scope_contexts(SYSTEM) == ("system",)
    assert scope_contexts(ANDERS) == ("user", "patient")


def test_binary__is_read_by_id_through_its_security_context_and_never_searched() -> None:
    assert reach(NURSE, "Binary") is Reach.SECURITY_CONTEXT
    assert verdict(NURSE, "Binary", Action.SEARCH) is Verdict.FORBIDDEN
    assert verdict(ANDERS, "Binary", Action.SEARCH) is Verdict.FORBIDDEN


def test_instance_operations__are_for_clinicians_and_systems_on_what_they_see_once_listed() -> None:
    listed = frozenset({"claim"})
    assert verdict(NURSE, "Task", Action.OPERATION, instance=True, operation="claim",
                   case_operations=listed) is Verdict.VISIBLE
    assert verdict(NURSE, "Task", Action.OPERATION, instance=True, operation="claim") is Verdict.FORBIDDEN
    assert verdict(NURSE, "Patient", Action.OPERATION, instance=True, operation="everything",
                   case_operations=listed) is Verdict.FORBIDDEN
    assert verdict(ANDERS, "Task", Action.OPERATION, instance=True, operation="claim",
                   case_operations=listed) is Verdict.FORBIDDEN
    assert verdict(NURSE, "Task", Action.OPERATION, operation="waiting-room") is Verdict.FORBIDDEN
    assert verdict(NURSE, "Patient", Action.OPERATION, operation="validate") is Verdict.OPEN
    assert verdict(NURSE, "Patient", Action.OPERATION, instance=True, operation="validate") is Verdict.VISIBLE


def test_subscriptions__belong_to_the_regional_system_that_made_them() -> None:
    assert kind_of("Subscription") is Kind.CLIENT
    assert reach(SYSTEM, "Subscription") is Reach.OWN_CLIENT
    assert not must_audit(SYSTEM, "Subscription", Action.CREATE)
    for action in (Action.CREATE, Action.READ, Action.SEARCH, Action.UPDATE, Action.DELETE):
        assert verdict(SYSTEM, "Subscription", action) is Verdict.VISIBLE
    assert verdict(SYSTEM, "Subscription", Action.OPERATION, instance=True, operation="replay") is Verdict.VISIBLE
    assert verdict(SYSTEM, "Subscription", Action.CREATE, scope_ok=False) is Verdict.FORBIDDEN
    assert verdict(SYSTEM, "Subscription", Action.HISTORY) is Verdict.FORBIDDEN
    assert verdict(SYSTEM, "Subscription", Action.CREATE, conditional=True) is Verdict.FORBIDDEN


@pytest.mark.parametrize("person", [ANDERS, GUARDIAN, NURSE, REVIEWER], ids=["citizen", "guardian", "clinician",
                                                                            "reviewer"])
def test_subscriptions__are_closed_to_people_whatever_they_do(person: object) -> None:
    assert reach(person, "Subscription") is Reach.NOTHING  # type: ignore[arg-type]
    for action in (Action.CREATE, Action.READ, Action.SEARCH, Action.UPDATE, Action.DELETE):
        assert verdict(person, "Subscription", action) is Verdict.FORBIDDEN
    assert verdict(person, "Subscription", Action.OPERATION, instance=True, operation="replay") is Verdict.FORBIDDEN
    assert verdict(None, "Subscription", Action.READ) is Verdict.LOGIN


@pytest.mark.parametrize(("child", "limit", "day", "allowed"), [
    (LILLY, 13, TODAY, True),
    (TEO, 13, TODAY, False),
    (TEO, None, TODAY, True),
    (LILLY, 13, date(2027, 1, 1), True),  # the day before her 13th birthday
    (LILLY, 13, date(2027, 1, 2), False),  # her 13th birthday
    (LILLY, None, date(2032, 1, 2), False),  # 18: custody has ended
    ("not-a-number", 13, TODAY, False),
])
def test_guardians__act_for_a_child_until_the_hand_over_age(child: str, limit: int | None, day: date,
                                                            allowed: bool) -> None:
    assert guardian_may_act_for(child, True, day, CustodyPolicy(limit)) is allowed


def test_guardians__never_act_for_a_child_the_register_does_not_confirm() -> None:
    assert not guardian_may_act_for(LILLY, False, TODAY, CustodyPolicy())


def test_persons_in_reach__are_the_citizen_and_the_children_they_may_act_for() -> None:
    assert persons_in_reach(ANDERS, [LILLY, TEO], TODAY, CustodyPolicy()) == {ANDERS.person_id, LILLY}
    assert persons_in_reach(GUARDIAN, [LILLY, TEO], TODAY, CustodyPolicy(None)) == {ANDERS.person_id, LILLY, TEO}
    assert persons_in_reach(ANDERS, [], TODAY, CustodyPolicy()) == {ANDERS.person_id}


def test_custody_policy__never_lets_the_hand_over_age_exceed_majority() -> None:
    assert CustodyPolicy(25).limit == 18
    assert CustodyPolicy(None).limit == 18
    assert CustodyPolicy().limit == 13


def test_write_ruling__refuses_writes_outside_reach_with_the_callers_words() -> None:
    assert write_ruling(ANDERS, "Communication", Action.CREATE, WriteFacts(in_reach=True)).allowed
    refused = write_ruling(ANDERS, "Communication", Action.CREATE, WriteFacts(in_reach=False))
    assert refused.verdict is Verdict.FORBIDDEN and "your child" in refused.reason
    assert "region" in write_ruling(SYSTEM, "Task", Action.CREATE, WriteFacts(in_reach=False)).reason
    assert "care unit" in write_ruling(NURSE, "Task", Action.CREATE, WriteFacts(in_reach=False)).reason


def test_write_ruling__needs_a_patient_or_case_on_every_patient_data_write() -> None:
    assert not write_ruling(NURSE, "Communication", Action.CREATE, WriteFacts(True, names_patient=False)).allowed
    assert write_ruling(NURSE, "Patient", Action.CREATE, WriteFacts(True, names_patient=False)).allowed


def test_write_ruling__lets_citizens_change_only_answers_still_in_progress() -> None:
    open_answers = WriteFacts(True, current_status="in-progress")
    assert write_ruling(ANDERS, "QuestionnaireResponse", Action.UPDATE, open_answers).allowed
    done = WriteFacts(True, current_status="completed")
    assert not write_ruling(ANDERS, "QuestionnaireResponse", Action.UPDATE, done).allowed


def test_write_ruling__keeps_emergency_access_read_only_and_patients_in_place() -> None:
    assert not write_ruling(NURSE, "Task", Action.UPDATE, WriteFacts(True, current_writable=False)).allowed
    assert not write_ruling(NURSE, "Task", Action.UPDATE, WriteFacts(True, same_patients=False)).allowed
    assert write_ruling(HubItself(), "Task", Action.UPDATE, WriteFacts(False, current_writable=False)).allowed


def test_emergency_access__needs_a_clinician_for_care_and_a_stated_reason() -> None:
    assert emergency_ruling(NURSE, "Medvetslös patient").allowed
    assert not emergency_ruling(NURSE, "  ").allowed
    assert not emergency_ruling(NURSE, None).allowed
    assert not emergency_ruling(ADMIN, "Medvetslös patient").allowed
    assert not emergency_ruling(ANDERS, "Medvetslös patient").allowed
    assert not emergency_ruling(SYSTEM, "Medvetslös patient").allowed


def test_emergency_access__lasts_the_configured_hours() -> None:
    now = datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert grant_expiry(now) == datetime(2025, 3, 1, 14, tzinfo=UTC)
    assert grant_expiry(now, 0.5) == datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


def test_must_audit__every_access_to_patient_data_or_the_log_by_a_person_or_system() -> None:
    assert must_audit(NURSE, "Encounter", Action.READ)
    assert must_audit(ANDERS, "AuditEvent", Action.SEARCH)
    assert must_audit(SYSTEM, None, Action.SEARCH)
    assert not must_audit(NURSE, "Organization", Action.READ)
    assert not must_audit(None, "Encounter", Action.READ)
    assert not must_audit(HubItself(), "Encounter", Action.CREATE)


def test_purpose_of_use__says_why_each_kind_of_actor_reads() -> None:
    assert purpose_of_use(NURSE, False)[0] == "TREAT"
    assert purpose_of_use(NURSE, True)[0] == "ETREAT"
    assert purpose_of_use(ANDERS, False)[0] == "PATRQT"
    assert purpose_of_use(GUARDIAN, False)[0] == "FAMRQT"
