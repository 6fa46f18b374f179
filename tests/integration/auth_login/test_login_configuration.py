"""The login backends a region's INGANG_*_OIDC_* variables give, and what the hub refuses to start with."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.idp.bankid.browser import BankIdBrowserLogin
from adapters.idp.oidc import CITIZEN_SCOPES
from adapters.idp.oidc.login_backend import OidcLoginBackend, clinician_claims_request
from adapters.idp.smart import DevLoginBackend, LoginFailed, LoginRequest
from hub.auth.logins import close_login_backends, login_backends_from_env, login_variables
from tests.fixtures.bankid.certs import make_pki
from tests.processes import free_port

from .conftest import HUB, region_environment

BROKER = "https://bankid-broker.region.example"


def backends(env: dict[str, str], mode: str = "development") -> dict[str, object] | None:
    logins = login_backends_from_env(env, issuer_base_url=HUB, mode=mode)
    close_login_backends(logins)
    return dict(logins) if logins is not None else None


def only_citizens(**extra: str) -> dict[str, str]:
    return {"INGANG_CITIZEN_OIDC_ISSUER": BROKER, "INGANG_CITIZEN_OIDC_CLIENT_ID": "hub",
            "INGANG_CITIZEN_OIDC_CLIENT_SECRET": "s3cret", **extra}


def test_nothing_configured_gives_none_so_the_wiring_picks_the_dev_login() -> None:
    assert backends({"PATH": "/usr/bin", "INGANG_MODE": "development"}) is None


def test_both_providers_configured_give_oidc_backends_that_send_the_browser_back_to_the_hubs_callback() -> None:
    logins = backends(region_environment(BROKER))
    assert logins is not None and set(logins) == {"citizen", "clinician"}
    citizen, clinician = logins["citizen"], logins["clinician"]
    assert isinstance(citizen, OidcLoginBackend) and isinstance(clinician, OidcLoginBackend)
    assert citizen.purpose == "citizen" and clinician.purpose == "clinician"
    for backend in (citizen, clinician):
        assert backend.relying_party.settings.redirect_uri == f"{HUB}/auth/callback"
        assert backend.issuer == BROKER
    assert citizen.relying_party.settings.scopes == CITIZEN_SCOPES
    assert clinician.relying_party.settings.scopes == ("openid",)
    assert clinician.relying_party.settings.claims_request == clinician_claims_request()


def test_the_clinician_claims_request_asks_for_every_hsa_claim_and_insists_on_the_employee_hsa_id() -> None:
    wanted = clinician_claims_request()["id_token"]
    assert wanted["employeeHsaId"] == {"essential": True}
    assert {"commissionHsaId", "commissionPurpose", "healthCareUnitHsaId", "healthCareProviderHsaId"} <= set(wanted)


def test_one_provider_in_development_leaves_the_dev_login_for_the_other_kind_of_person() -> None:
    logins = backends(only_citizens())
    assert logins is not None
    assert isinstance(logins["citizen"], OidcLoginBackend) and isinstance(logins["clinician"], DevLoginBackend)
    assert logins["clinician"].page_url == f"{HUB}/auth/dev/login"


def test_one_provider_in_production_is_a_configuration_error_naming_the_other() -> None:
    with pytest.raises(SystemExit, match="production mode needs an identity provider for clinicians too: set "
                                         "INGANG_CLINICIAN_OIDC_ISSUER"):
        backends(only_citizens(), mode="production")


@pytest.mark.parametrize(("env", "message"), [
    ({"INGANG_CITIZEN_OIDC_ISSUER": BROKER},
     "INGANG_CITIZEN_OIDC_ISSUER is set, so INGANG_CITIZEN_OIDC_CLIENT_ID and INGANG_CITIZEN_OIDC_CLIENT_SECRET "
     "must be set too"),
    ({"INGANG_CLINICIAN_OIDC_CLIENT_ID": "hub"}, "INGANG_CLINICIAN_OIDC_CLIENT_ID set without "
                                                 "INGANG_CLINICIAN_OIDC_ISSUER"),
    (only_citizens(INGANG_CITIZEN_OIDC_ISSUER="http://broker.region.example"),
     "INGANG_CITIZEN_OIDC_ISSUER: the issuer must be an https URL"),
    (only_citizens(INGANG_CITIZEN_OIDC_SCOPES="https://id.oidc.se/scope/naturalPersonNumber"),
     "INGANG_CITIZEN_OIDC_SCOPES must include openid"),
    (only_citizens(INGANG_CITIZEN_OIDC_TOKEN_AUTH_METHOD="private_key_jwt"),
     "INGANG_CITIZEN_OIDC_TOKEN_AUTH_METHOD must be client_secret_basic or client_secret_post, "
     "not 'private_key_jwt'"),
    (only_citizens(INGANG_CITIZEN_OIDC_CLIENT_SECRET_FILE="/run/secrets/x"),
     "set INGANG_CITIZEN_OIDC_CLIENT_SECRET or INGANG_CITIZEN_OIDC_CLIENT_SECRET_FILE, not both"),
])
def test_a_bad_login_configuration_stops_the_hub_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SystemExit, match=f"^configuration error: {message}"):
        backends(env)


def test_the_client_secret_can_come_from_a_file_without_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-the-vault\n", encoding="utf-8")
    env = only_citizens(INGANG_CITIZEN_OIDC_CLIENT_SECRET="", INGANG_CITIZEN_OIDC_CLIENT_SECRET_FILE=str(secret))
    logins = backends(env)
    assert logins is not None
    citizen = logins["citizen"]
    assert isinstance(citizen, OidcLoginBackend)
    assert citizen.relying_party.settings.client_secret == "from-the-vault"


def test_an_unreadable_secret_file_is_a_configuration_error(tmp_path: Path) -> None:
    env = only_citizens(INGANG_CITIZEN_OIDC_CLIENT_SECRET="",
                        INGANG_CITIZEN_OIDC_CLIENT_SECRET_FILE=str(tmp_path / "missing"))
    with pytest.raises(SystemExit, match="INGANG_CITIZEN_OIDC_CLIENT_SECRET_FILE: cannot read"):
        backends(env)


def test_the_documented_variables_are_the_ones_read() -> None:
    names = {v.name for v in login_variables()}
    assert len(names) == 17
    assert set(region_environment(BROKER)) <= names
    assert all(name.startswith(("INGANG_CITIZEN_OIDC_", "INGANG_CLINICIAN_OIDC_", "INGANG_CITIZEN_BANKID_"))
               for name in names)
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    bankid = [name.removeprefix("INGANG_CITIZEN_BANKID") for name in names if "_BANKID_" in name]
    assert all(f"`{suffix}" in readme or f"`INGANG_CITIZEN_BANKID{suffix}`" in readme for suffix in bankid)


def bankid_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    pki = make_pki(tmp_path / "pki")
    return {"INGANG_CITIZEN_BANKID_URL": "https://bankid.region.example/rp/v6.0",
            "INGANG_CITIZEN_BANKID_CERT_FILE": str(pki.client_cert),
            "INGANG_CITIZEN_BANKID_KEY_FILE": str(pki.client_key),
            "INGANG_CITIZEN_BANKID_CA_FILE": str(pki.ca_cert), **extra}


def test_bankid_configured_logs_citizens_in_on_the_hubs_own_bankid_page(tmp_path: Path) -> None:
    logins = backends(bankid_environment(tmp_path, INGANG_CLINICIAN_OIDC_ISSUER=BROKER,
                                         INGANG_CLINICIAN_OIDC_CLIENT_ID="hub",
                                         INGANG_CLINICIAN_OIDC_CLIENT_SECRET="s3cret"), mode="production")
    assert logins is not None
    citizen = logins["citizen"]
    assert isinstance(citizen, BankIdBrowserLogin) and citizen.page_url == f"{HUB}/auth/bankid"
    assert isinstance(logins["clinician"], OidcLoginBackend)


@pytest.mark.parametrize(("change", "message"), [
    ({"INGANG_CITIZEN_BANKID_CA_FILE": ""}, "INGANG_CITIZEN_BANKID_URL is set, so INGANG_CITIZEN_BANKID_CA_FILE "
                                            "must be set too"),
    ({"INGANG_CITIZEN_BANKID_URL": "http://bankid.region.example/rp/v6.0"}, "INGANG_CITIZEN_BANKID_\\*: .*the BankID "
                                                                           "base URL must be https"),
    ({"INGANG_CITIZEN_BANKID_URL": ""}, "INGANG_CITIZEN_BANKID_CA_FILE, INGANG_CITIZEN_BANKID_CERT_FILE, "
                                        "INGANG_CITIZEN_BANKID_KEY_FILE set without INGANG_CITIZEN_BANKID_URL"),
    (only_citizens(), "set INGANG_CITIZEN_BANKID_URL or INGANG_CITIZEN_OIDC_ISSUER"),
    ({"INGANG_CITIZEN_BANKID_CERT_FILE": "/nonexistent.pem"}, "INGANG_CITIZEN_BANKID_\\*: .*cannot load the TLS"),
])
def test_a_bad_bankid_configuration_stops_the_hub_naming_the_variable(tmp_path: Path, change: dict[str, str],
                                                                      message: str) -> None:
    with pytest.raises(SystemExit, match=f"^configuration error: {message}"):
        backends(bankid_environment(tmp_path, **change))


def test_an_unreachable_provider_fails_the_login_with_a_reason_and_not_an_exception() -> None:
    env = region_environment(f"http://127.0.0.1:{free_port()}")
    logins = login_backends_from_env(env, issuer_base_url=HUB)
    assert logins is not None
    try:
        request = LoginRequest(login_id="l-1", callback_url=f"{HUB}/auth/callback", client_id="app")
        with pytest.raises(LoginFailed, match=r"^The identity provider could not be reached for the discovery"):
            logins["citizen"].start(request, "citizen")
        assert request.memo == {}
    finally:
        close_login_backends(logins)


def test_a_backend_refuses_a_login_for_another_purpose_or_a_callback_the_provider_does_not_know() -> None:
    logins = login_backends_from_env(region_environment(BROKER), issuer_base_url=HUB)
    assert logins is not None
    try:
        request = LoginRequest(login_id="l-1", callback_url=f"{HUB}/auth/callback", client_id="app")
        with pytest.raises(LoginFailed, match="This identity provider logs citizens in, not clinicians"):
            logins["citizen"].start(request, "clinician")
        elsewhere = LoginRequest(login_id="l-2", callback_url="https://other-hub.example/auth/callback",
                                 client_id="app")
        with pytest.raises(LoginFailed, match="misconfigured: the identity provider would not send the browser back"):
            logins["citizen"].start(elsewhere, "citizen")
    finally:
        close_login_backends(logins)


def test_a_callback_without_a_started_login_is_refused_before_the_provider_is_asked() -> None:
    logins = login_backends_from_env(region_environment(BROKER), issuer_base_url=HUB)
    assert logins is not None
    try:
        with pytest.raises(LoginFailed, match=r"^No login was started in this browser"):
            logins["citizen"].finish({"code": "c", "state": "s"}, {})
        with pytest.raises(LoginFailed, match="started for a clinician, but this identity provider logs citizens in"):
            logins["citizen"].finish({"code": "c", "state": "s"}, {"purpose": "clinician"})
    finally:
        close_login_backends(logins)
