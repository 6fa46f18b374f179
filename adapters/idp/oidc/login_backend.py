"""Run the SMART authorization server's logins through an OpenID provider: BankID brokers, the Inera IdP.

`OidcLoginBackend` is the `LoginBackend` the hub's /authorize hands the browser to when a region
has a real identity provider. `start` begins an authorization code flow with PKCE and keeps its
`PendingLogin` (state, nonce, PKCE verifier) in `LoginRequest.memo`, which the hub stores
server-side with the login, so no browser session is needed; `finish` rebuilds it, lets the
relying party check the callback and the ID token, and maps the claims to a Principal. Every
`LoginError` leaves as `LoginFailed` with the error's reason, which never holds claim values.
https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code
https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Final

from adapters.idp.oidc.claims import INERA_CLAIMS, citizen_from_claims, staff_login_from_claims
from adapters.idp.oidc.errors import LoginError
from adapters.idp.oidc.relying_party import OidcRelyingParty, PendingLogin
from adapters.idp.smart.login import (
    CITIZEN,
    COMMISSION_HINT,
    PURPOSES,
    CommissionChoice,
    LoginFailed,
    LoginRequest,
    memo_purposes,
    staff_outcome,
)
from cases.principals import Citizen, Principal

log = logging.getLogger("ingang.auth")

# Keys of this backend's entries in `LoginRequest.memo`.
PENDING: Final = "oidc_pending"
PURPOSE: Final = "purpose"


def _sentence(reason: str) -> str:
    """Start a reason with a capital, as the hub's other login messages do."""
    return reason[:1].upper() + reason[1:]


class OidcLoginBackend:
    """Log citizens or clinicians in through one OpenID provider; one instance per purpose, thread-safe.

    Citizens become a `Citizen` through `citizen_from_claims`. Clinicians become a `Clinician`
    under one commission of a purpose the app accepts (care, unless the memo says otherwise):
    the one named by `memo["commission"]` when the login request carries such a hint, else the
    one chosen in the identity provider (the Inera IdP asks the person to choose when the hub
    requests commission claims, and sends the choice as top-level claims), else their only one;
    failing all three, a `CommissionChoice` lets the hub ask the person.
    """

    def __init__(self, relying_party: OidcRelyingParty, purpose: str, *,
                 today: Callable[[], date] = date.today) -> None:
        if purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")
        self.relying_party = relying_party
        self.purpose = purpose
        self._today = today

    @property
    def issuer(self) -> str:
        """Return the issuer of the OpenID provider this backend logs people in with."""
        return self.relying_party.settings.issuer

    def close(self) -> None:
        """Close the relying party's HTTP client (at shutdown)."""
        self.relying_party.close()

    def start(self, request: LoginRequest, purpose: str) -> str:
        """Return the provider's authorization URL and keep the pending login in the memo."""
        if purpose != self.purpose:
            raise LoginFailed(f"This identity provider logs {self.purpose}s in, not {purpose}s")
        redirect_uri = self.relying_party.settings.redirect_uri
        # The provider sends the browser to the redirect URI the hub registered with it; if that is
        # not the hub's callback, the login could never come back, so say so now, not after BankID.
        if request.callback_url != redirect_uri:
            log.error("the %s identity provider's redirect URI %s is not the hub's callback %s",
                      self.purpose, redirect_uri, request.callback_url)
            raise LoginFailed("The hub's login is misconfigured: the identity provider would not send the "
                              "browser back to this hub")
        try:
            redirect = self.relying_party.begin_login()
        except LoginError as exc:
            raise self._failed(exc) from None
        request.memo[PENDING] = redirect.pending.to_dict()
        request.memo[PURPOSE] = purpose
        return redirect.url

    def finish(self, params: Mapping[str, str], memo: Mapping[str, Any]) -> Principal | CommissionChoice:
        """Check the callback against the pending login and return the principal it names."""
        started_for = memo.get(PURPOSE)
        if started_for not in (None, self.purpose):
            raise LoginFailed(f"This login was started for a {started_for}, but this identity provider logs "
                              f"{self.purpose}s in")
        try:
            raw = memo.get(PENDING)
            pending = PendingLogin.from_dict(raw if isinstance(raw, Mapping) else {})
            verified = self.relying_party.finish_login(pending, params)
            if self.purpose == CITIZEN:
                return self._citizen(verified.claims)
            staff = staff_login_from_claims(verified.claims, memo_purposes(memo))
        except LoginError as exc:
            raise self._failed(exc) from None
        # The app's hint wins, then the choice made in the IdP (its top-level commission claims),
        # which stands even when the IdP also lists the others.
        return staff_outcome(staff, memo.get(COMMISSION_HINT), verified.claims.get(INERA_CLAIMS["commission_hsa_id"]))

    def _citizen(self, claims: Mapping[str, Any]) -> Citizen:
        return citizen_from_claims(claims, self._today())

    def _failed(self, exc: LoginError) -> LoginFailed:
        # The reason is safe to show and log (errors.py); the claims and tokens never leave here.
        log.info("%s login failed: %s: %s", self.purpose, type(exc).__name__, exc.reason)
        return LoginFailed(_sentence(exc.reason))


def clinician_claims_request() -> dict[str, Any]:
    """Return the OIDC `claims` request for a SITHS login: every HSA claim the hub reads, in the ID token.

    Asking for the commission claims by name is what makes the Inera IdP let a person with several
    commissions choose one before coming back, so most clinicians arrive with exactly one.
    https://openid.net/specs/openid-connect-core-1_0.html#ClaimsParameter
    """
    wanted: dict[str, Any] = {name: None for name in INERA_CLAIMS.values()}
    wanted[INERA_CLAIMS["employee_hsa_id"]] = {"essential": True}
    return {"id_token": wanted}

