"""The hub's own tokens: signed access tokens with SMART scopes, and rotated refresh tokens.

`refresh_sql` (the SQL refresh store and its table) is not imported here, so importing the
token code does not add a table to the store's MetaData; the wiring imports it when it needs it.
https://hl7.org/fhir/smart-app-launch/
"""

from adapters.idp.tokens.access import (
    MISSING_TOKEN,
    PRINCIPAL_CLAIM,
    AccessContext,
    AccessTokens,
    IssuedToken,
)
from adapters.idp.tokens.claims import PrincipalClaimError, principal_from_claim, principal_to_claim
from adapters.idp.tokens.keys import KeyConfigError, KeyRing, generate_private_jwk
from adapters.idp.tokens.refresh import (
    InMemoryRefreshTokenStore,
    RefreshGrant,
    RefreshTokenError,
    RefreshTokenStore,
    hash_refresh_token,
    new_family_id,
    new_refresh_token,
)
from adapters.idp.tokens.scopes import FHIR_INTERACTION_LETTERS, ResourceScope, ScopeError, Scopes

__all__ = [
    "FHIR_INTERACTION_LETTERS",
    "MISSING_TOKEN",
    "PRINCIPAL_CLAIM",
    "AccessContext",
    "AccessTokens",
    "InMemoryRefreshTokenStore",
    "IssuedToken",
    "KeyConfigError",
    "KeyRing",
    "PrincipalClaimError",
    "RefreshGrant",
    "RefreshTokenError",
    "RefreshTokenStore",
    "ResourceScope",
    "ScopeError",
    "Scopes",
    "generate_private_jwk",
    "hash_refresh_token",
    "new_family_id",
    "new_refresh_token",
    "principal_from_claim",
    "principal_to_claim",
]
