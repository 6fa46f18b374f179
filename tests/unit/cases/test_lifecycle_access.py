"""The access rules for case operations: staff run theirs on cases they see, citizens only their own few."""

from __future__ import annotations

from typing import Any

import pytest

from cases.access import Action, Verdict, rule_for
from cases.principals import Citizen, Clinician, Commission, Guardian

CLINICIAN = Clinician("E1", Commission("C1", "U1", "P1"))
CITIZEN = Citizen("191212121212")
CASE_OPS = frozenset({"claim", "withdraw", "queue-position"})


@pytest.mark.parametrize(("actor", "operation", "verdict"), [
    (CITIZEN, "withdraw", Verdict.VISIBLE), (Guardian(CITIZEN, "201401022387"), "withdraw", Verdict.VISIBLE),
    (CITIZEN, "queue-position", Verdict.VISIBLE), (CITIZEN, "claim", Verdict.FORBIDDEN),
    (CLINICIAN, "claim", Verdict.VISIBLE), (CLINICIAN, "withdraw", Verdict.VISIBLE),
])
def test_case_operations__citizens_run_only_their_own_on_what_they_see(actor: Any, operation: str,
                                                                       verdict: Verdict) -> None:
    ruling = rule_for(actor, "Task", Action.OPERATION, instance=True, operation=operation, case_operations=CASE_OPS)
    assert ruling.verdict is verdict


def test_case_operations__a_citizen_operation_the_hub_does_not_offer_stays_closed() -> None:
    ruling = rule_for(CITIZEN, "Task", Action.OPERATION, instance=True, operation="withdraw",
                      case_operations=frozenset())
    assert ruling.verdict is Verdict.FORBIDDEN
