"""SMART on FHIR: the hub's authorization server, as plain functions over `AuthServices`.

The HTTP routes live in `hub.auth`; this package knows no web framework. `one_time_sql` (the SQL
one-time store and its table) is not imported here, so importing this package adds no table to
the store's MetaData; the wiring imports it when it builds the services.
https://hl7.org/fhir/smart-app-launch/
"""

from adapters.idp.smart.authorize import (
    AuthorizeError,
    LoginStart,
    begin_authorization,
    create_launch,
    finish_login,
)
from adapters.idp.smart.clients import (
    ClientConfigError,
    ClientRegistration,
    ClientRegistry,
    InMemoryClientRegistry,
    client_from_config,
    load_client_registry,
)
from adapters.idp.smart.discovery import capability_security, openid_configuration, smart_configuration
from adapters.idp.smart.login import (
    DevLoginBackend,
    DevLoginRefused,
    IdentityDirectory,
    LoginBackend,
    LoginFailed,
    LoginRequest,
    NoDirectory,
    StaticDirectory,
)
from adapters.idp.smart.oauth import JWT_BEARER, OAuthError, s256
from adapters.idp.smart.one_time import InMemoryOneTimeStore, OneTimeStore
from adapters.idp.smart.services import AuthServices, AuthSettings
from adapters.idp.smart.token import token_response

__all__ = [
    "JWT_BEARER",
    "AuthServices",
    "AuthSettings",
    "AuthorizeError",
    "ClientConfigError",
    "ClientRegistration",
    "ClientRegistry",
    "DevLoginBackend",
    "DevLoginRefused",
    "IdentityDirectory",
    "InMemoryClientRegistry",
    "InMemoryOneTimeStore",
    "LoginBackend",
    "LoginFailed",
    "LoginRequest",
    "LoginStart",
    "NoDirectory",
    "OAuthError",
    "OneTimeStore",
    "StaticDirectory",
    "begin_authorization",
    "capability_security",
    "client_from_config",
    "create_launch",
    "finish_login",
    "load_client_registry",
    "openid_configuration",
    "s256",
    "smart_configuration",
    "token_response",
]
