"""Say how the authorization server logs a person in, whoever the identity provider is.

/authorize does not know BankID or SITHS: it hands the browser to a `LoginBackend` for the
login's purpose (a citizen or a clinician), and on the way back asks the same backend to turn
the callback into a Principal. The OIDC and BankID adapters implement the port; the dev backend
here takes the principal from a form so tests and the embedded default need no identity
provider, and it refuses to exist in production mode.
An `IdentityDirectory` maps a principal to FHIR: the Patient a citizen or guardian acts for
(the standalone launch's patient context) and the `fhirUser` reference.
https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol
from urllib.parse import urlencode

from adapters.idp.dev.people import DevCitizen, DevDirectory, demo_directory
from adapters.idp.oidc.claims import StaffLogin, citizen_from_claims, staff_login_from_claims
from adapters.idp.oidc.errors import LoginError
from adapters.idp.tokens.claims import PrincipalClaimError, principal_from_claim
from cases.principals import CARE_PURPOSE, Citizen, Clinician, Guardian, Principal, RegionalSystem

CITIZEN = "citizen"
CLINICIAN = "clinician"
PURPOSES = (CITIZEN, CLINICIAN)
# Keys the authorization server puts in `LoginRequest.memo` for every backend to read: the
# commission an app asks to act under, and the commission purposes the app accepts.
COMMISSION_HINT = "commission"
COMMISSION_PURPOSES = "commission_purposes"


class LoginFailed(Exception):
    """The login did not give a principal; the message is safe to show to the person and the app."""


class DevLoginRefused(RuntimeError):
    """The dev login backend was asked for in production mode."""


@dataclass
class LoginRequest:
    """One login the hub asks a backend to run.

    `memo` is the backend's own scratch space (an OIDC backend keeps its PendingLogin there: state,
    nonce, PKCE verifier). It must hold JSON values only: the hub keeps it server-side with the
    login, in the one-time store, and gives it back to `finish`, so backends need no session store.
    """

    login_id: str
    callback_url: str
    client_id: str
    client_name: str = ""
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommissionChoice:
    """A clinician who may act under several commissions here and did not say which: they choose.

    Why: the Inera IdP lets a person choose only when asked for commission claims, and other
    providers never do, so the hub asks itself rather than failing the login.
    """

    candidates: tuple[Clinician, ...]


def memo_purposes(memo: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the commission purposes the login's app accepts (care when the memo says nothing)."""
    raw = memo.get(COMMISSION_PURPOSES)
    if isinstance(raw, list) and raw and all(isinstance(p, str) for p in raw):
        return tuple(raw)
    return (CARE_PURPOSE,)


def staff_outcome(staff: StaffLogin, *preferences: object) -> Clinician | CommissionChoice:
    """Return the clinician under the preferred or sole commission, or the choice to offer."""
    try:
        chosen = staff.resolve(*preferences)
    except LoginError as exc:
        raise LoginFailed(exc.reason[:1].upper() + exc.reason[1:]) from None
    return chosen if chosen is not None else CommissionChoice(staff.candidates())


class LoginBackend(Protocol):
    """An identity provider as the authorization server sees it. Both calls may block (HTTP)."""

    def start(self, request: LoginRequest, purpose: str) -> str:
        """Return the URL to send the browser to; it must come back to `request.callback_url`."""

    def finish(self, params: Mapping[str, str], memo: Mapping[str, Any]) -> Principal | CommissionChoice:
        """Turn the callback's parameters into a principal (or a choice of commission), or raise LoginFailed."""


def principal_fits(principal: Principal, purpose: str) -> bool:
    """Tell whether a backend gave the kind of principal the login was for."""
    if purpose == CITIZEN:
        return isinstance(principal, (Citizen, Guardian))
    if purpose == CLINICIAN:
        return isinstance(principal, Clinician)
    return False


class DevLoginBackend:
    """Log in as a test person chosen on a form: for tests and the embedded default only, never production.

    The form (served by the hub at `page_url`) sends either `person`, the personnummer or HSA-id of
    one of the dev directory's people, whose claims then go through the same mappers (and the same
    choice of commission) as a real BankID or SITHS login, or `principal`, any principal as JSON in
    the claim format of `adapters.idp.tokens.claims`, e.g. `{"kind": "citizen", "person_id": "…"}`.
    """

    dev_only = True

    def __init__(self, *, page_url: str, mode: str, directory: DevDirectory | None = None,
                 today: Callable[[], date] = date.today) -> None:
        if mode != "development":
            raise DevLoginRefused("the dev login takes anyone's word for who they are; it refuses to run "
                                  f"in {mode} mode (INGANG_MODE=production needs real identity providers)")
        self.page_url = page_url
        self.directory = directory if directory is not None else demo_directory()
        self._today = today

    def start(self, request: LoginRequest, purpose: str) -> str:
        """Send the browser to the hub's dev login form."""
        query = urlencode({"purpose": purpose, "client": request.client_name or request.client_id})
        return f"{self.page_url}?{query}"

    def finish(self, params: Mapping[str, str], memo: Mapping[str, Any]) -> Principal | CommissionChoice:
        """Read the person or the principal the form sent."""
        if params.get("person"):
            return self._person(params["person"], memo)
        raw = params.get("principal")
        if not raw:
            raise LoginFailed("The dev login sent no person")
        try:
            principal = principal_from_claim(json.loads(raw))
        except (ValueError, PrincipalClaimError) as exc:
            raise LoginFailed(f"The dev login's principal is not valid: {exc}") from None
        if isinstance(principal, RegionalSystem):
            raise LoginFailed("A regional system does not log in through a browser")
        return principal

    def _person(self, user_id: str, memo: Mapping[str, Any]) -> Principal | CommissionChoice:
        try:
            person = self.directory.person(user_id)
            if isinstance(person, DevCitizen):
                return citizen_from_claims(person.claims(), self._today())
            staff = staff_login_from_claims(person.claims(), memo_purposes(memo))
        except LoginError as exc:
            raise LoginFailed(exc.reason[:1].upper() + exc.reason[1:]) from None
        return staff_outcome(staff, memo.get(COMMISSION_HINT))


class IdentityDirectory(Protocol):
    """Find the FHIR resources behind a principal."""

    def own_patient(self, principal: Principal) -> str | None:
        """Return the id of the Patient a citizen acts for (a guardian: the child's), if known."""

    def fhir_user(self, principal: Principal) -> str | None:
        """Return the principal's FHIR user reference, e.g. `Practitioner/abc`, if known."""

    def person_name(self, person_id: str) -> str | None:
        """Return the name of the Patient with this personnummer or samordningsnummer, if known."""


class NoDirectory:
    """A directory that knows nobody: no patient context, no fhirUser."""

    def own_patient(self, principal: Principal) -> str | None:
        """Know no patient."""
        return None

    def fhir_user(self, principal: Principal) -> str | None:
        """Know no user."""
        return None

    def person_name(self, person_id: str) -> str | None:
        """Know no name."""
        return None


@dataclass(frozen=True)
class StaticDirectory:
    """A directory from two maps: personnummer → Patient id, and person or HSA id → fhirUser."""

    patients: Mapping[str, str] = field(default_factory=dict)
    users: Mapping[str, str] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)

    def own_patient(self, principal: Principal) -> str | None:
        """Return the Patient id for the citizen, or for a guardian's child."""
        if isinstance(principal, Citizen):
            return self.patients.get(principal.person_id)
        if isinstance(principal, Guardian):
            return self.patients.get(principal.child_person_id)
        return None

    def fhir_user(self, principal: Principal) -> str | None:
        """Return the fhirUser reference by personnummer or employee HSA id."""
        if isinstance(principal, Citizen):
            return self.users.get(principal.person_id)
        if isinstance(principal, Guardian):
            return self.users.get(principal.citizen.person_id)
        if isinstance(principal, Clinician):
            return self.users.get(principal.employee_hsa_id)
        return None

    def person_name(self, person_id: str) -> str | None:
        """Return the name kept for the personnummer."""
        return self.names.get(person_id)
