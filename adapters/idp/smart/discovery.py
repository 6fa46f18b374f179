"""Describe the authorization server to apps: SMART configuration, OIDC discovery, metadata security.

Apps find the endpoints and what the hub supports from `.well-known/smart-configuration`, so
every capability listed here must be one the code implements; the lists are built from the same
constants the endpoints check against, not written out twice.
https://hl7.org/fhir/smart-app-launch/conformance.html#using-well-known
https://openid.net/specs/openid-connect-discovery-1_0.html
"""

from __future__ import annotations

from typing import Any

from adapters.idp.smart.oauth import ASSERTION_ALGORITHMS
from adapters.idp.smart.services import AUTHORIZE_PATH, JWKS_PATH, LAUNCH_PATH, AuthSettings
from adapters.idp.smart.token import GRANT_TYPES
from adapters.idp.tokens.keys import SIGNING_ALGORITHMS

CAPABILITIES = (
    "launch-ehr", "launch-standalone", "authorize-post",
    "client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
    "context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
    "permission-v2", "permission-v1", "permission-patient", "permission-user", "permission-offline",
    "permission-online", "sso-openid-connect",
)
SCOPES_SUPPORTED = (
    "openid", "fhirUser", "launch", "launch/patient", "offline_access", "online_access",
    "patient/*.cruds", "patient/*.rs", "user/*.cruds", "user/*.rs", "system/*.cruds", "system/*.rs",
)
AUTH_METHODS_SUPPORTED = ("private_key_jwt", "client_secret_basic")


def smart_configuration(settings: AuthSettings) -> dict[str, Any]:
    """Return the SMART App Launch 2.0 discovery document."""
    return {
        "issuer": settings.issuer,
        "jwks_uri": settings.url(JWKS_PATH),
        "authorization_endpoint": settings.url(AUTHORIZE_PATH),
        "token_endpoint": settings.token_endpoint,
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS_SUPPORTED),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "grant_types_supported": list(GRANT_TYPES),
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "capabilities": list(CAPABILITIES),
        "code_challenge_methods_supported": ["S256"],
        # Not part of SMART: where an EHR gets a launch id (see hub.auth's POST /auth/launch).
        "launch_endpoint": settings.url(LAUNCH_PATH),
    }


def openid_configuration(settings: AuthSettings) -> dict[str, Any]:
    """Return the OpenID Connect discovery document for the hub's ID tokens (sso-openid-connect)."""
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": settings.url(AUTHORIZE_PATH),
        "token_endpoint": settings.token_endpoint,
        "jwks_uri": settings.url(JWKS_PATH),
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "scopes_supported": ["openid", "fhirUser"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS_SUPPORTED),
        "code_challenge_methods_supported": ["S256"],
    }


def capability_security(settings: AuthSettings) -> dict[str, Any]:
    """Return the CapabilityStatement `rest.security` element that points apps at this server."""
    return {
        "cors": True,
        "service": [{
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR"}],
            "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
        }],
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [
                {"url": "authorize", "valueUri": settings.url(AUTHORIZE_PATH)},
                {"url": "token", "valueUri": settings.token_endpoint},
            ],
        }],
    }
