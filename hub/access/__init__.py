"""Access control and the PDL access log for the FHIR API: the hub's implementation of the Guard port.

    guard = build_guard(engine, repo, settings, verifier=auth_services.tokens, register=register)
    server.set_guard(guard)          # or FhirServer(..., guard=guard)
    app.add_middleware(PeerAddressMiddleware)

The rules themselves are pure and live in cases/access.py; this package looks up the facts
they need, turns what a caller may see into SQL, and writes AuditEvents and emergency grants.
https://hl7.org/fhir/R4/security.html
"""

from hub.access.caller import Caller, PeerAddressMiddleware, TokenVerifier, hub_caller
from hub.access.guard import PdlGuard
from hub.access.settings import SETTINGS_HELP, AccessSettings
from hub.access.wiring import build_guard

__all__ = [
    "SETTINGS_HELP",
    "AccessSettings",
    "Caller",
    "PdlGuard",
    "PeerAddressMiddleware",
    "TokenVerifier",
    "build_guard",
    "hub_caller",
]
