"""Every Principal survives the trip into a token claim and back, and nothing else gets in."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from token_fixtures import ALL_PRINCIPALS, CITIZEN, NOW, tokens

from adapters.idp.tokens import PrincipalClaimError, Scopes, principal_from_claim, principal_to_claim
from cases.principals import Citizen, Clinician, Commission, Guardian, Principal, RegionalSystem


@pytest.mark.parametrize("principal", ALL_PRINCIPALS, ids=lambda p: p.kind)
def test_principal_claim__round_trips_every_kind_through_json(principal: Principal) -> None:
    claim = json.loads(json.dumps(principal_to_claim(principal)))
    assert principal_from_claim(claim) == principal


@pytest.mark.parametrize("principal", ALL_PRINCIPALS, ids=lambda p: p.kind)
def test_principal_claim__round_trips_every_kind_through_a_signed_token(principal: Principal) -> None:
    at = tokens()
    token = at.issue(principal, Scopes.parse("patient/*.rs"), client_id="app", now=NOW).token
    assert at.verify_access_token(token, now=NOW).principal == principal


text = st.text(max_size=20)
texts = st.lists(text, max_size=3).map(tuple)
commissions = st.builds(Commission, text, text, text, purpose=text, rights=texts, care_unit_name=text)
citizens = st.builds(Citizen, text, given_name=text, family_name=text, coordination_number=st.booleans())
principals = st.one_of(
    citizens,
    st.builds(Guardian, citizens, text),
    st.builds(Clinician, text, commissions, given_name=text, family_name=text, profession=text,
              licences=texts, emergency_access=texts),
    st.builds(RegionalSystem, text, text, scopes=texts),
)


@given(principals)
def test_principal_claim__round_trips_any_principal(principal: Principal) -> None:
    assert principal_from_claim(json.loads(json.dumps(principal_to_claim(principal)))) == principal


def test_principal_claim__leaves_default_fields_out_to_keep_tokens_small() -> None:
    assert principal_to_claim(Citizen("191212121212")) == {"kind": "citizen", "person_id": "191212121212"}


@pytest.mark.parametrize(("claim", "message"), [
    ("citizen", "the principal claim is not a JSON object"),
    ({"kind": "admin", "person_id": "1"}, "unknown principal kind 'admin'"),
    ({"person_id": "1"}, "unknown principal kind None"),
    ({"kind": "citizen"}, "principal lacks 'person_id'"),
    ({"kind": "citizen", "person_id": "1", "role": "root"}, "principal has unknown field"),
    ({"kind": "citizen", "person_id": 191212121212}, "principal.person_id must be a string"),
    ({"kind": "citizen", "person_id": "1", "coordination_number": "yes"},
     "principal.coordination_number must be true or false"),
    ({"kind": "guardian", "citizen": "191212121212", "child_person_id": "2"}, "principal.citizen is not a JSON object"),
    ({"kind": "clinician", "employee_hsa_id": "e", "commission": {"commission_hsa_id": "c"}},
     "principal.commission lacks 'care_unit_hsa_id'"),
    ({"kind": "system", "client_id": "c", "region": "r", "scopes": "system/*.rs"},
     "principal.scopes must be a list of strings"),
])
def test_principal_claim__refuses_anything_but_an_exact_principal(claim: object, message: str) -> None:
    with pytest.raises(PrincipalClaimError, match=message.replace(".", r"\.")):
        principal_from_claim(claim)


def test_principal_claim__refuses_to_encode_what_is_not_a_principal() -> None:
    with pytest.raises(TypeError, match="not a Principal"):
        principal_to_claim(CITIZEN.__dict__)  # type: ignore[arg-type]
