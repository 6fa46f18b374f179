"""SMART v2 scopes (and v1's read/write/*): parsing, matching, and narrowing a request to a grant."""

from __future__ import annotations

import pytest

from adapters.idp.tokens import ScopeError, Scopes
from adapters.idp.tokens.scopes import parse_resource_scope


@pytest.mark.parametrize(("scope", "resource_type", "interaction", "context", "allowed"), [
    ("patient/*.rs", "Observation", "r", "patient", True),
    ("patient/*.rs", "Observation", "s", "patient", True),
    ("patient/*.rs", "Observation", "u", "patient", False),
    ("patient/*.rs", "Observation", "r", "user", False),
    ("user/Task.cu", "Task", "c", "user", True),
    ("user/Task.cu", "Task", "u", "user", True),
    ("user/Task.cu", "Task", "r", "user", False),
    ("user/Task.cu", "Encounter", "c", "user", False),
    ("system/Encounter.rs", "Encounter", "s", "system", True),
    ("system/Encounter.rs", "Encounter", "r", "patient", False),
    ("system/*.cruds", "Binary", "d", "system", True),
    ("patient/Observation.read", "Observation", "s", "patient", True),
    ("patient/Observation.read", "Observation", "c", "patient", False),
    ("user/Communication.write", "Communication", "c", "user", True),
    ("user/Communication.write", "Communication", "d", "user", True),
    ("user/Communication.write", "Communication", "r", "user", False),
    ("user/*.*", "Appointment", "d", "user", True),
])
def test_allows__matches_type_interaction_and_context(scope: str, resource_type: str, interaction: str,
                                                       context: str, allowed: bool) -> None:
    assert Scopes.parse(scope).allows(resource_type, interaction, context) is allowed


def test_allows__a_restricted_v2_scope_does_not_allow_alone_but_hands_its_query_over() -> None:
    scopes = Scopes.parse("patient/Observation.rs?category=laboratory")
    assert not scopes.allows("Observation", "r", "patient")
    assert scopes.granular("Observation", "s", "patient") == ("category=laboratory",)
    assert scopes.granular("Condition", "s", "patient") == ()


def test_allows__refuses_an_interaction_or_context_that_does_not_exist() -> None:
    scopes = Scopes.parse("patient/*.rs")
    with pytest.raises(ValueError, match="interaction must be one of"):
        scopes.allows("Patient", "read", "patient")
    with pytest.raises(ValueError, match="context must be patient, user or system"):
        scopes.allows("Patient", "r", "practitioner")


def test_contexts_allowing__lists_every_context_that_grants_the_interaction() -> None:
    scopes = Scopes.parse("patient/Observation.rs user/*.r system/Task.s")
    assert scopes.contexts_allowing("Observation", "r") == {"patient", "user"}
    assert scopes.contexts_allowing("Task", "s") == {"system"}


def test_parse__keeps_launch_and_openid_scopes_apart_from_resource_scopes() -> None:
    scopes = Scopes.parse("openid fhirUser launch/patient offline_access patient/*.rs user/Task.cu")
    assert scopes.has("openid") and scopes.has("launch/patient") and not scopes.has("launch")
    assert [s.text for s in scopes.resource] == ["patient/*.rs", "user/Task.cu"]
    assert scopes.contexts == {"patient", "user"}
    assert str(scopes) == "fhirUser launch/patient offline_access openid patient/*.rs user/Task.cu"


@pytest.mark.parametrize(("scope", "message"), [
    ("patient/Observation.rc", "has permissions 'rc'; use letters from 'cruds' in that order"),
    ("patient/Observation.x", "has permissions 'x'"),
    ("patient/Observation", "is not of the form context/Type.cruds"),
    ("user/Nonsense.rs", "names 'Nonsense', which is not an R4 resource type"),
    ("patient/*.read?category=x", "mixes a v1 permission with a v2 query"),
])
def test_parse__a_malformed_resource_scope_says_what_is_wrong(scope: str, message: str) -> None:
    with pytest.raises(ScopeError, match=message.replace("(", r"\(").replace("*", r"\*").replace("?", r"\?")):
        parse_resource_scope(scope)


def test_grant__narrows_the_request_to_what_the_client_may_have() -> None:
    requested = Scopes.parse("openid fhirUser launch patient/Observation.cruds user/*.rs system/*.rs made-up")
    allowed = Scopes.parse("openid launch patient/*.rs user/Task.rs system/*.rs")
    granted = requested.grant(allowed, contexts=("patient", "user"))
    assert str(granted) == "launch openid patient/Observation.rs"
    assert not granted.allows("Task", "r", "user")


def test_grant__keeps_a_query_restricted_scope_only_under_an_unrestricted_or_equal_allowance() -> None:
    requested = Scopes.parse("patient/Observation.rs?category=laboratory")
    assert requested.grant(Scopes.parse("patient/*.rs")).resource == requested.resource
    assert requested.grant(Scopes.parse("patient/Observation.rs?category=vital-signs")).resource == ()


def test_is_within__only_a_narrowing_passes() -> None:
    original = Scopes.parse("openid offline_access patient/*.rs")
    assert Scopes.parse("patient/Observation.r").is_within(original)
    assert Scopes.parse("openid patient/*.rs").is_within(original)
    assert not Scopes.parse("patient/*.cruds").is_within(original)
    assert not Scopes.parse("user/*.rs").is_within(original)
    assert not Scopes.parse("launch").is_within(original)
