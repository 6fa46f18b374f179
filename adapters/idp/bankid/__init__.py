"""BankID RP API v6.0 for regions that run BankID themselves: port, real client, fake, login flow.

Import from here: `HttpBankIdClient` (mutual TLS over httpx) and `FakeBankIdClient` (in memory)
both implement `BankIdClient`; `BankIdLogin` turns either into a `cases.principals.Citizen`.
Nothing is created at import time. https://developers.bankid.com/api-references/auth--sign/overview
"""

from adapters.idp.bankid.errors import (
    AlreadyInProgress,
    BankIdConfigurationError,
    BankIdError,
    ClientCertificateRefused,
    InternalError,
    InvalidParameters,
    InvalidPersonalNumber,
    LoginAborted,
    LoginTimedOut,
    Maintenance,
    NoSuchOrder,
    NotFound,
    OrderFailed,
    ProtocolError,
    RequestTimeout,
    ServerNotTrusted,
    Unauthorized,
    Unavailable,
)
from adapters.idp.bankid.fake import FakeBankIdClient, OrderScript
from adapters.idp.bankid.http_client import PRODUCTION_URL, TEST_URL, BankIdTls, HttpBankIdClient
from adapters.idp.bankid.login import BankIdLogin, LoginProgress, PendingLogin
from adapters.idp.bankid.messages import UserMessage, collect_message, failed_message, pending_message
from adapters.idp.bankid.personal_number import is_valid_personal_number
from adapters.idp.bankid.port import (
    BankIdClient,
    CollectResult,
    CompletionData,
    Device,
    OrderStart,
    Requirement,
    User,
    qr_data,
)

__all__ = [
    "PRODUCTION_URL",
    "TEST_URL",
    "AlreadyInProgress",
    "BankIdClient",
    "BankIdConfigurationError",
    "BankIdError",
    "BankIdLogin",
    "BankIdTls",
    "ClientCertificateRefused",
    "CollectResult",
    "CompletionData",
    "Device",
    "FakeBankIdClient",
    "HttpBankIdClient",
    "InternalError",
    "InvalidParameters",
    "InvalidPersonalNumber",
    "LoginAborted",
    "LoginProgress",
    "LoginTimedOut",
    "Maintenance",
    "NoSuchOrder",
    "NotFound",
    "OrderFailed",
    "OrderScript",
    "OrderStart",
    "PendingLogin",
    "ProtocolError",
    "RequestTimeout",
    "Requirement",
    "ServerNotTrusted",
    "Unauthorized",
    "Unavailable",
    "User",
    "UserMessage",
    "collect_message",
    "failed_message",
    "is_valid_personal_number",
    "pending_message",
    "qr_data",
]
