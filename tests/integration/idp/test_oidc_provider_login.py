"""Log in through a real, certified OpenID provider: code flow, PKCE, state, nonce, keys, issuers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.idp.dev import demo_directory
from adapters.idp.oidc import CITIZEN_SCOPES, citizen_from_claims, staff_login_from_claims
from adapters.idp.oidc.errors import (
    InvalidCallback,
    InvalidIdToken,
    LoginCancelled,
    NoEligibleCommission,
    TokenRequestRejected,
)
from adapters.idp.oidc.idtoken import verify_id_token
from cases.principals import Citizen, Clinician, Commission
from tests.integration.idp.op_process import (
    FIXTURE_DIR,
    SITHS_SCOPES,
    RunningProvider,
    authorize,
    login,
    start_provider,
)


@pytest.fixture(scope="module")
def other_provider(tmp_path_factory: pytest.TempPathFactory,
                   shared_keys: dict[str, object]) -> Iterator[RunningProvider]:
    """Run a second provider with the same keys, client and people, under another issuer."""
    provider = start_provider(tmp_path_factory.mktemp("other-op"), demo_directory().op_accounts(), keys=shared_keys)
    yield provider
    provider.stop()


def test_a_citizen_logs_in_with_the_code_flow_and_pkce_and_becomes_a_citizen(openid_provider: RunningProvider) -> None:
    verified = login(openid_provider.relying_party(scopes=CITIZEN_SCOPES), "191212121212")
    assert verified.issuer == openid_provider.issuer
    assert citizen_from_claims(verified.claims) == Citizen(
        person_id="191212121212", given_name="Tolvan", family_name="Tolvansson")


def test_a_citizen_with_a_samordningsnummer_is_marked_as_such(openid_provider: RunningProvider) -> None:
    verified = login(openid_provider.relying_party(scopes=CITIZEN_SCOPES), "197010632391")
    citizen = citizen_from_claims(verified.claims)
    assert citizen.person_id == "197010632391"
    assert citizen.coordination_number


def test_a_clinician_logs_in_and_acts_under_the_commission_they_choose(openid_provider: RunningProvider) -> None:
    verified = login(openid_provider.relying_party(scopes=SITHS_SCOPES), "SE2321000000-P002")
    staff = staff_login_from_claims(verified.claims)
    assert [c.commission_hsa_id for c in staff.commissions] == [
        "SE2321000000-P002-digital-norr", "SE2321000000-P002-vc-norr"]
    assert staff.choose("SE2321000000-P002-vc-norr") == Clinician(
        employee_hsa_id="SE2321000000-P002",
        commission=Commission(commission_hsa_id="SE2321000000-P002-vc-norr", care_unit_hsa_id="SE2321000000-VC01",
                              care_provider_hsa_id="SE2321000000-NORR", rights=("Läsa;Alla;Alla", "Skriva;Alla;Alla"),
                              care_unit_name="Vårdcentralen Norrstaden"),
        given_name="Erik", family_name="Berg", profession="Läkare", licences=("LK",))


def test_a_commission_chosen_in_the_identity_provider_is_the_only_one_offered(openid_provider: RunningProvider) -> None:
    verified = login(openid_provider.relying_party(scopes=SITHS_SCOPES), "SE2321000000-P003")
    commission = staff_login_from_claims(verified.claims).sole_commission
    assert commission is not None
    assert (commission.commission_hsa_id, commission.care_unit_hsa_id) == ("SE2321000000-P003-vc-syd", "SE2321000000-VC02")


def test_a_clinician_without_a_commission_for_care_is_refused(openid_provider: RunningProvider) -> None:
    verified = login(openid_provider.relying_party(scopes=SITHS_SCOPES), "SE2321000000-A001")
    with pytest.raises(NoEligibleCommission, match="no commission for Vård och behandling"):
        staff_login_from_claims(verified.claims)


def test_the_scopes_decide_which_claims_the_provider_releases(openid_provider: RunningProvider) -> None:
    verified = login(openid_provider.relying_party(scopes=CITIZEN_SCOPES), "SE2321000000-P001")
    assert "employeeHsaId" not in verified.claims


def test_claims_can_be_read_from_the_userinfo_endpoint_too(openid_provider: RunningProvider) -> None:
    verified = login(openid_provider.relying_party(scopes=CITIZEN_SCOPES, use_userinfo=True), "198112189876")
    assert citizen_from_claims(verified.claims).person_id == "198112189876"


def test_the_authorization_request_carries_pkce_s256_state_and_nonce(openid_provider: RunningProvider) -> None:
    redirect = openid_provider.relying_party().begin_login(login_hint="191212121212")
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirect.url).query).items()}
    assert query["code_challenge_method"] == "S256"
    assert query["state"] == redirect.pending.state
    assert query["nonce"] == redirect.pending.nonce
    assert redirect.pending.code_verifier not in redirect.url


def test_an_answer_with_another_state_is_rejected(openid_provider: RunningProvider) -> None:
    rp = openid_provider.relying_party()
    redirect = rp.begin_login(login_hint="191212121212")
    callback = authorize(redirect.url)
    with pytest.raises(InvalidCallback, match="does not belong to the login"):
        rp.finish_login(redirect.pending, {**callback, "state": "another-browsers-state"})


def test_an_id_token_with_another_nonce_is_rejected(openid_provider: RunningProvider) -> None:
    rp = openid_provider.relying_party()
    redirect = rp.begin_login(login_hint="191212121212")
    callback = authorize(redirect.url)
    with pytest.raises(InvalidIdToken, match="nonce"):
        rp.finish_login(replace(redirect.pending, nonce="another-logins-nonce"), callback)


def test_a_code_is_not_redeemed_without_its_pkce_verifier(openid_provider: RunningProvider) -> None:
    rp = openid_provider.relying_party()
    redirect = rp.begin_login(login_hint="191212121212")
    callback = authorize(redirect.url)
    with pytest.raises(TokenRequestRejected, match="invalid_grant"):
        rp.finish_login(replace(redirect.pending, code_verifier="x" * 64), callback)


def test_a_code_is_redeemed_only_once(openid_provider: RunningProvider) -> None:
    rp = openid_provider.relying_party()
    redirect = rp.begin_login(login_hint="191212121212")
    callback = authorize(redirect.url)
    rp.finish_login(redirect.pending, callback)
    with pytest.raises(TokenRequestRejected, match="invalid_grant"):
        rp.finish_login(redirect.pending, callback)


def test_a_login_the_provider_ends_is_reported_as_cancelled(openid_provider: RunningProvider) -> None:
    rp = openid_provider.relying_party()
    redirect = rp.begin_login(login_hint="nobody-by-this-name")
    with pytest.raises(LoginCancelled, match="access_denied"):
        rp.finish_login(redirect.pending, authorize(redirect.url))


def test_a_rotated_signing_key_is_fetched_when_a_token_names_it(openid_provider: RunningProvider) -> None:
    rp = openid_provider.relying_party(scopes=CITIZEN_SCOPES)
    login(rp, "191212121212")
    assert rp.provider.jwks_fetches == 1
    openid_provider.rotate_keys()
    verified = login(rp, "191212121212")
    assert rp.provider.jwks_fetches == 2
    assert citizen_from_claims(verified.claims).person_id == "191212121212"
    login(rp, "198112189876")
    assert rp.provider.jwks_fetches == 2


def test_a_token_from_another_issuer_is_rejected_even_when_signed_with_a_known_key(
        openid_provider: RunningProvider, other_provider: RunningProvider) -> None:
    theirs = other_provider.relying_party()
    redirect = theirs.begin_login(login_hint="191212121212")
    their_token = theirs.finish_login(redirect.pending, authorize(redirect.url)).id_token
    ours = openid_provider.relying_party()
    with pytest.raises(InvalidIdToken, match=re.escape(f"issued by '{other_provider.issuer}', not by '{openid_provider.issuer}'")):
        verify_id_token(their_token, provider=ours.provider, client_id=ours.settings.client_id,
                        nonce=redirect.pending.nonce, now=time.time(), clock_skew=60)


def test_the_committed_accounts_are_the_dev_idps_people() -> None:
    committed = json.loads(Path(FIXTURE_DIR / "accounts.json").read_text(encoding="utf-8"))
    assert committed == demo_directory().op_accounts(), (
        "regenerate with: .venv/bin/python -c 'import json; from adapters.idp.dev import demo_directory; "
        "print(json.dumps(demo_directory().op_accounts(), indent=2, ensure_ascii=False))' "
        "> tests/fixtures/oidc-provider/accounts.json")
