"""The code flow as the hub runs it: the request it sends, the answers it accepts, the ones it refuses."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from oidc_fake_provider import CLIENT_ID, CLIENT_SECRET, ISSUER, REDIRECT_URI, FakeProvider

from adapters.idp.oidc import OidcRelyingParty, OidcSettings, PendingLogin
from adapters.idp.oidc.errors import (
    InvalidCallback,
    InvalidIdentityClaims,
    LoginCancelled,
    ProviderMisconfigured,
    ProviderUnavailable,
    TokenRequestRejected,
)


def started(op: FakeProvider, rp: OidcRelyingParty, **kwargs: Any) -> tuple[PendingLogin, dict[str, str]]:
    redirect = rp.begin_login(**kwargs)
    op.nonce = redirect.pending.nonce
    return redirect.pending, {"code": "code-1", "state": redirect.pending.state}


def test_the_authorization_url_asks_for_a_code_with_pkce_s256_state_and_nonce() -> None:
    op = FakeProvider()
    rp = op.relying_party(scopes=("openid", "profile"), claims_request={"id_token": {"acr": None}})
    redirect = rp.begin_login(login_hint="191212121212")
    url = urlsplit(redirect.url)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ISSUER}/auth"
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["scope"] == "openid profile"
    assert query["login_hint"] == "191212121212"
    assert query["claims"] == '{"id_token": {"acr": null}}'
    assert query["state"] == redirect.pending.state and query["nonce"] == redirect.pending.nonce
    digest = hashlib.sha256(redirect.pending.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert query["code_challenge_method"] == "S256"
    assert "prompt" not in query


def test_every_login_gets_its_own_state_nonce_and_verifier() -> None:
    rp = FakeProvider().relying_party()
    first, second = rp.begin_login().pending, rp.begin_login().pending
    assert len({first.state, second.state, first.nonce, second.nonce, first.code_verifier, second.code_verifier}) == 6
    assert 43 <= len(first.code_verifier) <= 128


def test_a_good_answer_gives_the_verified_claims() -> None:
    op = FakeProvider()
    rp = op.relying_party()
    pending, callback = started(op, rp)
    verified = rp.finish_login(pending, {**callback, "iss": ISSUER})
    assert (verified.issuer, verified.subject, verified.claims["given_name"]) == (ISSUER, "user-1", "Tolvan")
    token_request = next(r for r in op.requests if r.url.path == "/token")
    form = parse_qs(token_request.content.decode())
    assert form["code_verifier"] == [pending.code_verifier]
    assert form["grant_type"] == ["authorization_code"] and form["redirect_uri"] == [REDIRECT_URI]
    assert token_request.headers["authorization"] == "Basic " + base64.b64encode(
        f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert "id_token" not in repr(verified)


def test_the_client_can_authenticate_with_its_secret_in_the_form() -> None:
    op = FakeProvider()
    rp = op.relying_party(token_auth_method="client_secret_post")
    rp.finish_login(*started(op, rp))
    form = parse_qs(next(r for r in op.requests if r.url.path == "/token").content.decode())
    assert form["client_secret"] == [CLIENT_SECRET]


@pytest.mark.parametrize("change", [{"state": "forged"}, {"state": ""}, {"state": None}])
def test_an_answer_whose_state_is_not_this_logins_is_rejected(change: dict[str, Any]) -> None:
    op = FakeProvider()
    rp = op.relying_party()
    pending, callback = started(op, rp)
    callback = {k: v for k, v in {**callback, **change}.items() if v is not None}
    with pytest.raises(InvalidCallback, match="does not belong to the login this browser started"):
        rp.finish_login(pending, callback)
    assert not any(r.url.path == "/token" for r in op.requests)


def test_an_answer_that_comes_too_late_is_rejected() -> None:
    op, now = FakeProvider(), [time.time()]
    rp = op.relying_party(clock=lambda: now[0], login_max_age=600)
    pending, callback = started(op, rp)
    now[0] += 601
    with pytest.raises(InvalidCallback, match="longer than 10 minutes"):
        rp.finish_login(pending, callback)


def test_an_answer_naming_another_issuer_is_a_mix_up_and_rejected() -> None:
    op = FakeProvider()
    rp = op.relying_party()
    pending, callback = started(op, rp)
    with pytest.raises(InvalidCallback, match=re.escape("names the issuer 'https://evil.example'")):
        rp.finish_login(pending, {**callback, "iss": "https://evil.example"})


def test_an_answer_without_iss_is_rejected_when_the_provider_promises_one() -> None:
    op = FakeProvider()
    op.document["authorization_response_iss_parameter_supported"] = True
    rp = op.relying_party()
    with pytest.raises(InvalidCallback, match="does not name its issuer"):
        rp.finish_login(*started(op, rp))


@pytest.mark.parametrize(("error", "kind"), [
    ("access_denied", LoginCancelled), ("login_required", LoginCancelled),
    ("temporarily_unavailable", ProviderUnavailable), ("server_error", ProviderUnavailable),
    ("invalid_scope", ProviderMisconfigured), ("unauthorized_client", ProviderMisconfigured),
])
def test_an_error_from_the_provider_becomes_the_hubs_own_login_error(error: str, kind: type[Exception]) -> None:
    op = FakeProvider()
    rp = op.relying_party()
    pending, callback = started(op, rp)
    with pytest.raises(kind, match=error):
        rp.finish_login(pending, {"state": callback["state"], "error": error, "error_description": "<b>x</b>"})


def test_an_answer_without_a_code_is_rejected() -> None:
    op = FakeProvider()
    rp = op.relying_party()
    pending, callback = started(op, rp)
    with pytest.raises(InvalidCallback, match="no authorization code"):
        rp.finish_login(pending, {"state": callback["state"]})


@pytest.mark.parametrize(("answer", "kind", "reason"), [
    (httpx.Response(400, json={"error": "invalid_grant"}), TokenRequestRejected, "invalid_grant"),
    (httpx.Response(401, json={"error": "invalid_client"}), ProviderMisconfigured, "client credentials"),
    (httpx.Response(400, json=["not", "an", "object"]), ProviderUnavailable, "without a JSON object"),
    (httpx.Response(200, json={"access_token": "a", "token_type": "Bearer"}), TokenRequestRejected, "no ID token"),
    (httpx.Response(502, text="bad gateway"), ProviderUnavailable, "HTTP 502"),
])
def test_a_refusal_at_the_token_endpoint_is_a_login_error(answer: httpx.Response, kind: type[Exception],
                                                          reason: str) -> None:
    op = FakeProvider()
    op.token_answer = lambda form: answer
    rp = op.relying_party()
    with pytest.raises(kind, match=reason):
        rp.finish_login(*started(op, rp))


def test_userinfo_claims_are_added_when_asked_for() -> None:
    op = FakeProvider()
    op.userinfo = {"sub": "user-1", "family_name": "Tolvansson", "given_name": "Ignored"}
    rp = op.relying_party(use_userinfo=True)
    claims = rp.finish_login(*started(op, rp)).claims
    assert (claims["family_name"], claims["given_name"]) == ("Tolvansson", "Tolvan")
    me = next(r for r in op.requests if r.url.path == "/me")
    assert me.headers["authorization"] == "Bearer at-1"


def test_userinfo_about_another_person_is_refused() -> None:
    op = FakeProvider()
    op.userinfo = {"sub": "someone-else", "family_name": "X"}
    rp = op.relying_party(use_userinfo=True)
    with pytest.raises(InvalidIdentityClaims, match="another person"):
        rp.finish_login(*started(op, rp))


def test_a_pending_login_survives_the_session_store() -> None:
    pending = FakeProvider().relying_party().begin_login().pending
    assert PendingLogin.from_dict(pending.to_dict()) == pending
    with pytest.raises(InvalidCallback, match="no login was started"):
        PendingLogin.from_dict({})


@pytest.mark.parametrize(("change", "reason"), [
    ({"allowed_algs": ("RS256", "HS256")}, "allowed_algs"),
    ({"allowed_algs": ("none",)}, "allowed_algs"),
    ({"allowed_algs": ()}, "allowed_algs"),
    ({"scopes": ("profile",)}, "openid"),
    ({"issuer": "http://op.example.se"}, "https"),
    ({"token_auth_method": "none"}, "token_auth_method"),
    ({"http_timeout": 0}, "positive"),
])
def test_unsafe_settings_are_refused_at_start(change: dict[str, Any], reason: str) -> None:
    values: dict[str, Any] = {"issuer": ISSUER, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                              "redirect_uri": REDIRECT_URI, **change}
    with pytest.raises(ValueError, match=reason):
        OidcSettings(**values)


def test_plain_http_is_allowed_only_on_the_loopback_interface() -> None:
    settings = OidcSettings(issuer="http://127.0.0.1:9000", client_id="c", client_secret="s", redirect_uri="r")
    assert settings.issuer.startswith("http://")


def test_a_relying_party_closes_only_the_http_client_it_made() -> None:
    own = OidcRelyingParty(OidcSettings(issuer=ISSUER, client_id="c", client_secret="s", redirect_uri="r"))
    with own:
        pass
    assert own._http.is_closed
    shared = httpx.Client()
    OidcRelyingParty(OidcSettings(issuer=ISSUER, client_id="c", client_secret="s", redirect_uri="r"), http=shared).close()
    assert not shared.is_closed
    shared.close()
