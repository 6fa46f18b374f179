"""Say why a login failed, in the hub's own terms, whatever the identity provider's library said.

The web layer shows `LoginError.reason` to the person logging in and maps `status` to the HTTP
answer; neither ever carries a token, a code or claim values, since those can identify a
patient. Every exception from httpx, joserfc or authlib is turned into one of these at the
adapter boundary (DESIGN.md, "Packages and the dependency rule").
https://openid.net/specs/openid-connect-core-1_0.html#AuthError
"""

from __future__ import annotations


class LoginError(Exception):
    """A login that did not give a Principal; `reason` is safe to show and to log."""

    status = 401

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderUnavailable(LoginError):
    """The identity provider did not answer, timed out or answered with a server error."""

    status = 503


class ProviderMisconfigured(LoginError):
    """The identity provider's metadata or keys do not fit what the hub was configured with."""

    status = 502


class LoginCancelled(LoginError):
    """The person, or the identity provider on their behalf, ended the login (access_denied …)."""


class InvalidCallback(LoginError):
    """The redirect back to the hub does not belong to a login this browser started."""


class TokenRequestRejected(LoginError):
    """The identity provider refused to exchange the authorization code for tokens."""


class InvalidIdToken(LoginError):
    """The ID token is not signed, not for this hub, not from this issuer or not valid now."""


class InvalidIdentityClaims(LoginError):
    """The ID token is genuine, but what it says about the person cannot be used."""


class NoEligibleCommission(LoginError):
    """The clinician has no commission whose purpose is care and treatment (PDL)."""

    status = 403


class UnknownCommission(LoginError):
    """The commission chosen is not one of the clinician's commissions for care."""

    status = 403


class NotGuardian(LoginError):
    """The population register does not confirm that the person may act for the child."""

    status = 403


class UnknownTestUser(LoginError):
    """The dev IdP has no test person by that id."""
