"""Implement the FHIR server's `Guard` port: PDL access control and the access log for every request.

Each interaction is decided in three steps, each of which can only refuse in a way that
reveals nothing: first by type (cases.access.rule_for: 401, 403, 405 whatever the instance),
then by visibility (a hidden resource by id is 404, worded exactly as a missing one, and
searches are filtered in SQL), last by what a write would attach the resource to (403, for
resources the caller can already see, or for new ones). After the interaction, the AuditEvent
is written on the same connection, so it commits or rolls back with the access it records.
https://hl7.org/fhir/R4/security.html, https://hl7.org/fhir/R4/auditevent.html
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import jsonpatch
from sqlalchemy import Connection

from cases.access import (
    CLIENT_TYPES,
    STATELESS_OPERATIONS,
    Action,
    HubItself,
    Reach,
    Ruling,
    Verdict,
    action_of,
    emergency_ruling,
    must_audit,
    reach,
    rule_for,
    write_ruling,
)
from cases.principals import Citizen, Clinician, Guardian, RegionalSystem
from fhir_api.guard import Route, classify
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import Forbidden, MethodNotAllowed, NotFound, TooManyRequests, Unauthorized
from fhir_api.resource_types import R4_RESOURCE_TYPES
from fhir_api.search import AccessFilter
from fhir_api.searchparams import SearchParamRegistry
from fhir_api.store.repository import ResourceRepository
from hub.access.audit import AccessRecord, audit_event, query_text
from hub.access.caller import Caller, TokenVerifier, client_address
from hub.access.emergency import EmergencyAccess
from hub.access.grants import GrantStore
from hub.access.identities import check_identities
from hub.access.ownership import stamp_owner
from hub.access.ratelimit import TokenBuckets, retry_after
from hub.access.resolve import CustodyRegister, DirectoryCache, build_view, row_visible
from hub.access.settings import AccessSettings
from hub.access.subjects import entries_of, patients_of, security_context, visible_normally
from hub.access.visibility import View
from hub.access.writes import WriteChecker

LOGIN_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ingang"'}


def utc_now() -> datetime:
    """Return the current time, timezone-aware."""
    return datetime.now(UTC)


class PdlGuard:
    """Authenticate, authorise, filter and audit, for one hub."""

    def __init__(self, *, repo: ResourceRepository, registry: SearchParamRegistry, settings: AccessSettings,
                 verifier: TokenVerifier, register: CustodyRegister,
                 clock: Callable[[], datetime] = utc_now, grants: GrantStore | None = None,
                 buckets: TokenBuckets | None = None, case_operations: frozenset[str] = frozenset()) -> None:
        self.repo = repo
        self.registry = registry
        self.settings = settings
        self.verifier = verifier
        self.register = register
        self.clock = clock
        self.grants = grants or GrantStore()
        self.buckets = buckets or TokenBuckets(settings.anonymous_rate_per_minute, settings.anonymous_burst)
        self.emergency = EmergencyAccess(self.grants, settings, repo)
        self.directory = DirectoryCache()
        # Instance operations (`Task/x/$claim`) clinicians and systems may run on what they see.
        self.case_operations = case_operations

    # --- the Guard port -------------------------------------------------------------------

    def authenticate(self, req: FhirRequest) -> Caller | None:
        """Return the caller a bearer token names, or None (after the rate limit) when there is none."""
        address = client_address(req, self.settings.forwarded_hops)
        authorization = req.header("authorization")
        if not authorization:
            wait = self.buckets.take(address)
            if wait > 0:
                raise TooManyRequests("Too many requests from your address; wait and try again",
                                      headers={"Retry-After": retry_after(wait)})
            return None
        token = self.verifier.verify_authorization(authorization, now=self.clock())
        return Caller(token.principal, token.scopes, token.patient, address)

    def writes_audit(self, req: FhirRequest) -> bool:
        """Tell whether the request will write (an AuditEvent, or an emergency grant)."""
        return self._audited(_caller(req), classify(req), req)

    def before(self, conn: Connection, req: FhirRequest, route: Route) -> None:
        """Refuse what the caller may not do, in the order that reveals nothing."""
        caller = _caller(req)
        res_type = route.res_type
        if route.interaction == "capabilities" or (res_type is not None and res_type not in R4_RESOURCE_TYPES):
            return  # the server answers these the same for everyone
        action = action_of(route.interaction)
        actor = caller.principal if caller else None
        scope_ok = caller is None or res_type is None or bool(caller.contexts_allowing(res_type, action))
        conditional = route.conditional or (action is Action.CREATE and bool(req.header("if-none-exist")))
        ruling = rule_for(actor, res_type, action, scope_ok=scope_ok, conditional=conditional,
                          instance=route.res_id is not None, operation=route.operation,
                          case_operations=self.case_operations, log_review_right=self.settings.log_review_right)
        _enforce(ruling)
        if (res_type in CLIENT_TYPES and isinstance(actor, RegionalSystem) and caller is not None
                and action in (Action.CREATE, Action.UPDATE)):
            self._own_write(req, route, caller, actor)
        if action in (Action.CREATE, Action.UPDATE) and res_type is not None and not isinstance(actor, HubItself):
            check_identities(res_type, req.body, self.clock().date())
        subject = _subject(req.body) if route.operation == "next-question" else None
        if subject is not None:
            self._check_subject(conn, caller, subject)
        if ruling.verdict is Verdict.OPEN or caller is None or res_type is None:
            return
        view = self.view(conn, caller)
        reason = _header_text(req.header(self.settings.emergency_reason_header))
        if reason is not None:
            _enforce(emergency_ruling(actor, reason))
            if self.emergency.open(conn, req, route, caller, reason, self.clock()):
                caller.view = None
                view = self.view(conn, caller)
        if res_type == "AuditEvent" and action is Action.SEARCH:
            req.query = _agent_identifier_as_altid(req.query)
        if route.res_id is not None:
            self._check_instance(conn, req, route, action, view)
        elif action in (Action.CREATE, Action.UPDATE) and res_type not in CLIENT_TYPES:
            checker = WriteChecker(conn, view, self.registry, self._visible, req.base_url or None)
            facts = checker.facts(res_type, Action.CREATE, req.body, None)
            _enforce(write_ruling(actor, res_type, Action.CREATE, facts))

    def after(self, conn: Connection, req: FhirRequest, route: Route, resp: FhirResponse) -> None:
        """Write the AuditEvent for an access to patient data, on the interaction's connection."""
        caller = _caller(req)
        if caller is None or not self._audited(caller, route, req):
            return
        assert not isinstance(caller.principal, HubItself)
        view = self.view(conn, caller)
        entries = entries_of(route, resp)
        patients = patients_of(conn, self.repo, entries)
        if route.operation == "next-question":  # the saved answers, for the patient they are about
            saved = resp.json() or {}
            entries = [("QuestionnaireResponse", saved["id"])] if isinstance(saved.get("id"), str) else []
            patients = sorted({*patients, (_subject(req.body) or "").removeprefix("Patient/")})
        reason = None
        hidden = [p for p in patients if p in view.emergency_reasons]
        if hidden and not visible_normally(conn, self.repo, view, entries):
            reason = view.emergency_reasons[hidden[0]]
        search = route.interaction == "search"
        record = AccessRecord(
            principal=caller.principal, interaction=route.interaction, address=caller.address,
            recorded=self.clock(), patients=patients, emergency_reason=reason, unit_id=view.unit_id,
            what=[] if search else [f"{t}/{i}" for t, i in entries],
            query=query_text(route.res_type, _search_params(req)) if search else None)
        self.repo.create(conn, audit_event(record))

    def search_filter(self, conn: Connection, req: FhirRequest) -> AccessFilter | None:
        """Return the condition that hides from a search what the caller may not see."""
        caller = _caller(req)
        if caller is None:
            return View(actor=None, reach=lambda t: reach(None, t)).access_filter
        if isinstance(caller.principal, HubItself):
            return None
        return self.view(conn, caller).access_filter

    def visible(self, conn: Connection, req: FhirRequest, res_type: str, res_id: str) -> bool:
        """Tell whether the request's caller may see a live resource (for the core's own lookups).

        For code that looks resources up outside the guarded interactions, such as a transaction's
        reference checks: it must treat what this says False about exactly like a missing resource.
        """
        caller = _caller(req)
        if caller is not None and isinstance(caller.principal, HubItself):
            stored = self.repo.read(conn, res_type, res_id)
            return stored is not None and not stored.deleted
        view = self.view(conn, caller) if caller is not None else View(actor=None, reach=lambda t: reach(None, t))
        if view.reach(res_type) is Reach.EVERYTHING:
            stored = self.repo.read(conn, res_type, res_id)
            return stored is not None and not stored.deleted
        return self._visible(conn, view, res_type, res_id)

    def system_sees(self, conn: Connection, system: RegionalSystem, res_type: str, res_id: str) -> bool:
        """Tell whether a regional system may see a live resource (for what its Subscriptions send)."""
        view = build_view(conn, Caller(system), self.settings, self.register, self.grants, self.clock(),
                          self.directory)
        return self._visible(conn, view, res_type, res_id)

    # --- helpers ----------------------------------------------------------------------------

    def _own_write(self, req: FhirRequest, route: Route, caller: Caller, system: RegionalSystem) -> None:
        """Stamp a system's Subscription with its owner; its criteria must name a type it may read."""
        if route.interaction == "patch":
            raise Forbidden(f"Change a {route.res_type} with update (PUT), which keeps its owner; "
                            "patch is not offered")
        body = req.body if isinstance(req.body, dict) else {}
        criteria = body.get("criteria")
        wanted = criteria.strip().partition("?")[0] if isinstance(criteria, str) else ""
        if wanted in R4_RESOURCE_TYPES and not caller.may_read(wanted):
            raise Forbidden(f"The access token's scopes do not allow reading {wanted}, which the criteria select")
        req.body = stamp_owner(req.body, system)

    def view(self, conn: Connection, caller: Caller) -> View:
        """Return the caller's View, resolving it on first use in the request."""
        if caller.view is None:
            caller.view = build_view(conn, caller, self.settings, self.register, self.grants, self.clock(),
                                     self.directory)
        return caller.view

    def _audited(self, caller: Caller | None, route: Route, req: FhirRequest) -> bool:
        if caller is None or route.interaction in ("capabilities", "transaction"):
            return False
        if route.operation == "next-question":  # saving a citizen's answers is writing their data
            return _subject(req.body) is not None and not isinstance(caller.principal, HubItself)
        if route.operation in STATELESS_OPERATIONS:
            return False
        return must_audit(caller.principal, route.res_type, action_of(route.interaction))

    def _check_subject(self, conn: Connection, caller: Caller | None, subject: str) -> None:
        """Let a citizen save answers only for themselves, or a child the rules let them act for."""
        if caller is None:
            raise Unauthorized("Saving answers for a patient needs a login; leave out the subject for an "
                               "anonymous assessment", headers=LOGIN_CHALLENGE)
        if not isinstance(caller.principal, (Citizen, Guardian)):
            return  # the operation itself refuses anyone but a citizen
        patient_id = subject.removeprefix("Patient/")
        if patient_id not in self.view(conn, caller).compartment:
            # Worded as the operation words it, whether the patient is missing or someone else's.
            raise NotFound(f"{subject} is not known, or not someone you may answer for",
                           ("QuestionnaireResponse.subject",))

    def _visible(self, conn: Connection, view: View, res_type: str, res_id: str, writing: bool = False) -> bool:
        """Tell whether a resource is visible; a Binary is as visible as its securityContext."""
        if view.reach(res_type) is not Reach.SECURITY_CONTEXT:
            return row_visible(conn, view, res_type, res_id, writing=writing)
        target = security_context(conn, self.repo, res_type, res_id)
        return target is not None and target[0] != "Binary" and self._visible(conn, view, *target, writing)

    def _check_instance(self, conn: Connection, req: FhirRequest, route: Route, action: Action, view: View) -> None:
        res_type, res_id = route.res_type or "", route.res_id or ""
        everything = view.reach(res_type) is Reach.EVERYTHING
        if not everything and not self._visible(conn, view, res_type, res_id):
            raise _not_known(req, route)
        if action not in (Action.UPDATE, Action.DELETE) or res_type in CLIENT_TYPES:
            return  # a client's own resource: seeing it (its owner tag) is all a write needs
        stored = self.repo.read(conn, res_type, res_id)
        checker = WriteChecker(conn, view, self.registry, self._visible, req.base_url or None)
        if stored is None or stored.deleted:  # directory data only: hidden data was a 404 above
            if action is Action.UPDATE:
                facts = checker.facts(res_type, Action.CREATE, req.body, None)
                _enforce(write_ruling(view.actor, res_type, Action.CREATE, facts))
            return
        if action is Action.DELETE:
            if not checker.current_writable(res_type, res_id, stored.json()):
                raise Forbidden(f"This {res_type} is not in your region; you may not delete it")
            return
        body = req.body
        if route.interaction == "patch":
            body = _patched(stored.json(), req.body)
        facts = checker.facts(res_type, Action.UPDATE, body, stored.json(), res_id)
        _enforce(write_ruling(view.actor, res_type, Action.UPDATE, facts))


def _caller(req: FhirRequest) -> Caller | None:
    """Return the request's Caller; a bare principal set by in-process code is trusted as it is."""
    caller = req.caller
    if isinstance(caller, Caller):
        return caller
    if isinstance(caller, (Citizen, Guardian, Clinician, RegionalSystem, HubItself)):
        req.caller = wrapped = Caller(caller)
        return wrapped
    return None


def _enforce(ruling: Ruling) -> None:
    if ruling.verdict is Verdict.LOGIN:
        raise Unauthorized(ruling.reason, headers=LOGIN_CHALLENGE)
    if ruling.verdict is Verdict.FORBIDDEN:
        raise Forbidden(ruling.reason)
    if ruling.verdict is Verdict.NOT_ALLOWED:
        raise MethodNotAllowed(ruling.reason)


def _not_known(req: FhirRequest, route: Route) -> NotFound:
    """Word a 404 for a hidden resource exactly as the server words one for a missing resource."""
    ref = f"{route.res_type}/{route.res_id}"
    if route.interaction == "vread":
        vid = req.segments[3]
        if not vid.isdigit():
            return NotFound(f"Version '{vid}' is not a version number", ("_history",))
        return NotFound(f"{ref}/_history/{vid} is not known")
    if route.interaction == "history":
        return NotFound(f"{ref} is not known")
    return NotFound(f"{ref} is not known", (ref,))


def _header_text(raw: str | None) -> str | None:
    """Read free text from a header: percent-encoded UTF-8 (RFC 3986), or raw UTF-8 bytes read as latin-1."""
    if raw is None:
        return None
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        raw = raw.encode("latin-1").decode("utf-8")
    return unquote(raw)


def _subject(body: Any) -> str | None:
    """Return the subject reference of a `$next-question` body, or None when it has none."""
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        body = next((p.get("resource") for p in body.get("parameter") or []
                     if isinstance(p, dict) and p.get("name") == "questionnaire-response"), None)
    subject = body.get("subject") if isinstance(body, dict) else None
    if not subject:
        return None
    ref = subject.get("reference") if isinstance(subject, dict) else None
    return ref if isinstance(ref, str) else ""


def _patched(current: dict[str, Any], patch: Any) -> Any:
    """Return what a JSON Patch would make of the resource, or None if it cannot apply (the server says why)."""
    try:
        return jsonpatch.JsonPatch(patch).apply(current)
    except Exception:
        return None


def _search_params(req: FhirRequest) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    params = list(req.query)
    if req.method == "POST" and isinstance(req.body, str):
        params += parse_qsl(req.body, keep_blank_values=True)
    return params


def _agent_identifier_as_altid(query: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Read `agent-identifier=[system|]value` as R4's `altid`, where the hub puts the same ids."""
    return [("altid", v.rpartition("|")[2]) if k == "agent-identifier" else (k, v) for k, v in query]
