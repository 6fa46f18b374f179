"""Log citizens (BankID through an OpenID provider) and clinicians (SITHS through the Inera IdP) in.

`OidcRelyingParty` runs the authorization code flow with PKCE against one provider and returns
a `VerifiedLogin`; `citizen_from_claims` and `staff_login_from_claims` turn its claims into
`cases.principals` types. Errors are `LoginError`s (see `errors`).
https://openid.net/specs/openid-connect-core-1_0.html
"""

from adapters.idp.oidc.claims import (
    CITIZEN_SCOPES,
    INERA_CLAIMS,
    StaffLogin,
    choose_commission,
    citizen_from_claims,
    staff_login_from_claims,
)
from adapters.idp.oidc.errors import LoginError
from adapters.idp.oidc.relying_party import (
    LoginRedirect,
    OidcRelyingParty,
    OidcSettings,
    PendingLogin,
    VerifiedLogin,
)

__all__ = [
    "CITIZEN_SCOPES",
    "INERA_CLAIMS",
    "LoginError",
    "LoginRedirect",
    "OidcRelyingParty",
    "OidcSettings",
    "PendingLogin",
    "StaffLogin",
    "VerifiedLogin",
    "choose_commission",
    "citizen_from_claims",
    "staff_login_from_claims",
]
