"""Mount the hub's SMART on FHIR authorization server on the app.

`create_app` builds `AuthServices` (see `hub.auth.wiring.build_auth_services`) and calls
`mount_auth(app, services)`. A citizen login backend that runs BankID itself gets its login page
(`hub.auth.bankid_pages`) mounted too. The routes go to the front of the app's route list, so the FHIR
catch-all `/fhir/{path}` cannot swallow `/fhir/.well-known/smart-configuration` whichever order
the two are added in.
https://hl7.org/fhir/smart-app-launch/
"""

from __future__ import annotations

from fastapi import FastAPI

from adapters.idp.bankid.browser import BankIdBrowserLogin
from adapters.idp.smart.login import DevLoginRefused
from adapters.idp.smart.services import AuthServices, AuthSettings
from hub.auth.bankid_pages import build_bankid_routes
from hub.auth.routes import LOGIN_COOKIE, build_routes

__all__ = ["LOGIN_COOKIE", "AuthServices", "AuthSettings", "mount_auth"]


def mount_auth(app: FastAPI, services: AuthServices) -> None:
    """Add the authorization server's routes to the app; refuse a dev login in production."""
    dev = [purpose for purpose, backend in services.logins.items() if getattr(backend, "dev_only", False)]
    if dev and services.settings.production:
        raise DevLoginRefused(f"the dev login is configured for {', '.join(dev)} but the hub is in production mode")
    routes = build_routes(services, dev_login=bool(dev))
    for backend in {id(b): b for b in services.logins.values() if isinstance(b, BankIdBrowserLogin)}.values():
        # BankID run by the region itself: the hub serves the login page (QR code, app link, collect).
        backend.attach(services.one_time, services.clock)
        routes += build_bankid_routes(backend, LOGIN_COOKIE)
    app.router.routes[:0] = routes
    app.state.auth = services
