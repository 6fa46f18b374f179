"""Decide who may do what to which kind of resource, from facts the hub has looked up.

These are the access rules of Ingång as plain functions: no database, no HTTP. The hub's
guard (hub/access) asks them first about the type of resource and the interaction — an
answer that never depends on whether some instance exists, so a 401, 403 or 405 reveals
nothing — then looks up what the actor can see (a `Reach`) and filters by it, so a hidden
instance is a 404 exactly like a missing one; last it asks `write_ruling` about the facts of
a write. Inner secrecy is by care unit, outer secrecy by care provider (Patientdatalagen,
SFS 2008:355, 4 kap.); a guardian acts for a child only while the population register
confirms custody and the child is under the age at which 1177 hands the account over.
https://hl7.org/fhir/R4/security.html
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from cases.principals import Citizen, Clinician, Guardian, Principal, RegionalSystem
from mappings.personnummer import InvalidPersonalIdentity, parse_personal_identity

PUBLIC_TYPES = frozenset({"Questionnaire", "CodeSystem", "ValueSet", "SearchParameter", "StructureDefinition",
                          "OperationDefinition", "CapabilityStatement"})
DIRECTORY_TYPES = frozenset({"Organization", "Practitioner", "PractitionerRole", "Location", "HealthcareService",
                             "Schedule", "Slot"})
AUDIT_TYPE = "AuditEvent"
# Resources that belong to the client (regional system) that made them, not to a patient.
CLIENT_TYPES = frozenset({"Subscription"})
# What a citizen may write in their own (or their child's) compartment: answers, chat, photos.
CITIZEN_CREATES = frozenset({"QuestionnaireResponse", "Communication", "Media", "Binary"})
# Only answers still being given may be changed by the citizen afterwards.
CITIZEN_UPDATES = frozenset({"QuestionnaireResponse"})
CITIZEN_UPDATABLE_STATUS = "in-progress"
# Records of what happened are never rewritten, by anyone but the hub itself.
IMMUTABLE_TYPES = frozenset({"Provenance"})
# The operations that store nothing and show nothing stored.
STATELESS_OPERATIONS = frozenset({"next-question", "validate"})
# Case operations a citizen (or guardian) may run on their own case, when the hub offers them.
CITIZEN_CASE_OPERATIONS = frozenset({"withdraw", "queue-position", "request-contact"})
LOG_REVIEW_RIGHT = "Logggranskning"
MIN_EMERGENCY_REASON = 5
DEFAULT_EMERGENCY_HOURS = 2.0
AGE_OF_MAJORITY = 18  # custody ends (Föräldrabalken 6 kap. 2 §)
CHILD_TAKES_OVER_AT = 13  # the age from which 1177 gives the child their own account
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


class Kind(StrEnum):
    """What sort of data a resource type holds, which decides its rules."""

    PUBLIC = "public"
    DIRECTORY = "directory"
    AUDIT = "audit"
    CLIENT = "client"  # a regional system's own: its Subscriptions
    PATIENT = "patient"


class Action(StrEnum):
    """An interaction as the rules see it; `history` is type- or system-level history."""

    READ = "read"
    SEARCH = "search"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    HISTORY = "history"
    OPERATION = "operation"


class Verdict(StrEnum):
    """The answer: allowed outright, allowed on what the actor can see, or refused how."""

    OPEN = "open"
    VISIBLE = "visible"
    LOGIN = "login"
    FORBIDDEN = "forbidden"
    NOT_ALLOWED = "not-allowed"


class Reach(StrEnum):
    """Which rows of a type an actor can see; the hub turns each into one SQL condition."""

    EVERYTHING = "everything"
    NOTHING = "nothing"
    COMPARTMENT = "compartment"  # a citizen's own Patient, and children in their custody
    OWN_LOG = "own-log"  # AuditEvents about the citizen's own Patient only
    CASES = "cases"  # a clinician's unit's cases, or a regional system's region's
    PROVIDER_LOG = "provider-log"  # AuditEvents of the reviewer's care provider
    SECURITY_CONTEXT = "security-context"  # Binary: whoever can see its securityContext
    OWN_CLIENT = "own-client"  # a regional system's own Subscriptions


@dataclass(frozen=True)
class HubItself:
    """The hub acting on its own account: loading demo data, its own workflows."""

    kind = "hub"


Actor = Principal | HubItself | None


@dataclass(frozen=True)
class Ruling:
    """A decision and, when it refuses, why, in words the caller can act on."""

    verdict: Verdict
    reason: str = ""

    @property
    def allowed(self) -> bool:
        """Tell whether the interaction may go ahead (possibly limited to what is visible)."""
        return self.verdict in (Verdict.OPEN, Verdict.VISIBLE)


OPEN = Ruling(Verdict.OPEN)
VISIBLE = Ruling(Verdict.VISIBLE)


def forbidden(reason: str) -> Ruling:
    """Refuse with 403 and a reason."""
    return Ruling(Verdict.FORBIDDEN, reason)


def kind_of(res_type: str) -> Kind:
    """Sort a resource type; anything not public, directory or the log is patient data."""
    if res_type in PUBLIC_TYPES:
        return Kind.PUBLIC
    if res_type in DIRECTORY_TYPES:
        return Kind.DIRECTORY
    if res_type == AUDIT_TYPE:
        return Kind.AUDIT
    if res_type in CLIENT_TYPES:
        return Kind.CLIENT
    return Kind.PATIENT


def action_of(interaction: str) -> Action:
    """Map a FHIR interaction (fhir_api.guard.Route.interaction) to the rules' action."""
    return {
        "read": Action.READ, "vread": Action.READ, "search": Action.SEARCH, "create": Action.CREATE,
        "update": Action.UPDATE, "patch": Action.UPDATE, "delete": Action.DELETE,
        "history": Action.HISTORY, "operation": Action.OPERATION,
    }.get(interaction, Action.OPERATION)


SCOPE_LETTER = {Action.READ: "r", Action.SEARCH: "s", Action.HISTORY: "s", Action.CREATE: "c", Action.UPDATE: "u",
                Action.DELETE: "d"}


def scope_contexts(actor: Principal) -> tuple[str, ...]:
    """Return the SMART scope contexts whose scopes count for this kind of principal."""
    if isinstance(actor, RegionalSystem):
        return ("system",)
    return ("user", "patient")


def is_log_reviewer(actor: Actor, right: str = LOG_REVIEW_RIGHT) -> bool:
    """Tell whether a clinician's commission carries the log-review right (`Logggranskning;…`)."""
    if not isinstance(actor, Clinician):
        return False
    wanted = right.casefold()
    return any(r.split(";", 1)[0].strip().casefold() == wanted for r in actor.commission.rights)


def rule_for(actor: Actor, res_type: str | None, action: Action, *, scope_ok: bool = True,
             conditional: bool = False, instance: bool = False, operation: str | None = None,
             case_operations: frozenset[str] = frozenset(), log_review_right: str = LOG_REVIEW_RIGHT) -> Ruling:
    """Decide an interaction on a type, before looking at any instance.

    `scope_ok` is whether the token's SMART scopes grant the interaction on the type;
    `instance` tells history and operations on one resource from those on a whole type;
    `case_operations` names the instance operations clinicians and systems may run on what
    they see (an operation nobody listed stays closed: it could return what the filters hide).
    """
    kind = kind_of(res_type) if res_type else None
    if kind is Kind.AUDIT and action in (Action.UPDATE, Action.DELETE):
        return Ruling(Verdict.NOT_ALLOWED, "The access log cannot be changed or deleted (PDL: kept at least 5 years)")
    if isinstance(actor, HubItself):
        return OPEN
    if action is Action.OPERATION:
        return _operation_rule(actor, kind, operation, instance, case_operations)
    if actor is None:
        if kind is Kind.PUBLIC and action in (Action.READ, Action.SEARCH, Action.HISTORY):
            return OPEN
        return Ruling(Verdict.LOGIN, "Log in to do this; anonymous callers reach only public resources")
    if res_type is None:  # system-level search or history
        if action is Action.SEARCH:
            return VISIBLE
        return forbidden("System history is not available to callers who see only part of the data")
    if kind is Kind.PUBLIC:
        if action in (Action.READ, Action.SEARCH, Action.HISTORY):
            return OPEN
        return forbidden(f"{res_type} resources are published by the hub itself")
    if kind is Kind.CLIENT:
        return _client_rule(actor, res_type, action, scope_ok=scope_ok, conditional=conditional, instance=instance)
    if action in (Action.CREATE, Action.UPDATE, Action.DELETE) and not scope_ok:
        return forbidden(f"The access token's scopes do not allow {action} of {res_type}")
    if kind is Kind.DIRECTORY:
        return _directory_rule(actor, res_type, action, conditional)
    if not scope_ok:
        return forbidden(f"The access token's scopes do not allow {action} of {res_type}")
    if action is Action.HISTORY and not instance:
        return forbidden(f"{res_type} history is not available to callers who see only part of the data; "
                         "search with _lastUpdated instead")
    if conditional:
        return forbidden("Conditional create, update and delete are not available on patient data: "
                         "they would act on resources you cannot see")
    if kind is Kind.AUDIT:
        return _audit_rule(actor, action, log_review_right)
    return _patient_data_rule(actor, res_type, action)


def _operation_rule(actor: Actor, kind: Kind | None, operation: str | None, instance: bool,
                    case_operations: frozenset[str]) -> Ruling:
    if operation == "next-question":
        return OPEN  # the subject check is the guard's: a subject means saving, which needs a login
    if actor is None:
        return Ruling(Verdict.LOGIN, "Log in to use this operation")
    if kind is Kind.CLIENT:  # `Subscription/x/$replay`: the owning system's, on its own
        if instance and isinstance(actor, RegionalSystem):
            return VISIBLE
        return forbidden(f"${operation} is open only to the regional system that made the resource")
    if instance and kind in (Kind.PATIENT, Kind.AUDIT):  # on one resource: only if it may be seen
        if operation in STATELESS_OPERATIONS:
            return VISIBLE
        if kind is Kind.PATIENT and operation in case_operations and isinstance(actor, (Clinician, RegionalSystem)):
            return VISIBLE if _cares(actor) else forbidden(_not_for_care(actor))
        if (kind is Kind.PATIENT and operation in case_operations and operation in CITIZEN_CASE_OPERATIONS
                and isinstance(actor, (Citizen, Guardian))):
            return VISIBLE  # on their own case only: the guard then checks it is in their compartment
    elif operation in STATELESS_OPERATIONS or instance:
        return OPEN
    return forbidden(f"${operation} is not open to you")


def _directory_rule(actor: Principal, res_type: str, action: Action, conditional: bool) -> Ruling:
    if action in (Action.READ, Action.SEARCH, Action.HISTORY):
        return OPEN
    if isinstance(actor, RegionalSystem):
        return VISIBLE  # within the region: the guard checks what the resource is anchored to
    if conditional:
        return forbidden("Conditional writes are not available to you")
    return forbidden(f"{res_type} is directory data, maintained by the region's systems")


def _client_rule(actor: Principal, res_type: str, action: Action, *, scope_ok: bool, conditional: bool,
                 instance: bool) -> Ruling:
    """A Subscription is its regional system's: only systems make them, and each sees its own.

    Citizens and clinicians are refused outright: a rest-hook sends data to an endpoint the
    subscriber names, long after a clinician's session and commission have ended, so a unit's
    feed is subscribed by the region's system (its EHR integration), which answers for it.
    """
    if not isinstance(actor, RegionalSystem):
        return forbidden(f"{res_type} is made by a region's system (client credentials), not by a person's login")
    if not scope_ok:
        return forbidden(f"The access token's scopes do not allow {action} of {res_type}")
    if action is Action.HISTORY and not instance:
        return forbidden(f"{res_type} history is not available; search your own with _lastUpdated instead")
    if conditional:
        return forbidden(f"Conditional create, update and delete are not available on {res_type}: "
                         "they would act on other systems' resources")
    return VISIBLE


def _audit_rule(actor: Principal, action: Action, right: str) -> Ruling:
    if action is Action.CREATE:
        return forbidden("AuditEvents are written by the hub itself, never through the API")
    if isinstance(actor, (Citizen, Guardian)) or is_log_reviewer(actor, right):
        return VISIBLE
    return forbidden(f"Reading the access log needs the log-review right '{right}'")


def _cares(actor: Principal) -> bool:
    return not isinstance(actor, Clinician) or actor.commission.for_care


def _not_for_care(actor: Principal) -> str:
    purpose = actor.commission.purpose if isinstance(actor, Clinician) else ""
    return f"Your commission's purpose ({purpose}) does not give access to patient data"


def _patient_data_rule(actor: Principal, res_type: str, action: Action) -> Ruling:
    if action is Action.DELETE:
        return forbidden("Patient data is not deleted through the API; mark it entered-in-error instead")
    if isinstance(actor, (Citizen, Guardian)):
        if action is Action.CREATE and res_type not in CITIZEN_CREATES:
            return forbidden(f"Citizens may create {', '.join(sorted(CITIZEN_CREATES))}, not {res_type}")
        if action is Action.UPDATE and res_type not in CITIZEN_UPDATES:
            return forbidden(f"Citizens may not change {res_type} resources")
        if action is Action.SEARCH and res_type == "Binary":
            return forbidden("Binary has no search parameters; read it by id")
        return VISIBLE
    if not _cares(actor):
        return forbidden(_not_for_care(actor))
    if action is Action.SEARCH and res_type == "Binary":
        return forbidden("Binary has no search parameters; read it by id")
    if action is Action.UPDATE and res_type in IMMUTABLE_TYPES:
        return forbidden(f"{res_type} is a record of what happened and is never changed")
    return VISIBLE


def reach(actor: Actor, res_type: str, *, log_review_right: str = LOG_REVIEW_RIGHT) -> Reach:
    """Say which rows of a type the actor can see, for reads, searches, includes and chains."""
    kind = kind_of(res_type)
    if isinstance(actor, HubItself) or kind is Kind.PUBLIC or (actor is not None and kind is Kind.DIRECTORY):
        return Reach.EVERYTHING
    if actor is None:
        return Reach.NOTHING
    if kind is Kind.AUDIT:
        if isinstance(actor, (Citizen, Guardian)):
            return Reach.OWN_LOG
        return Reach.PROVIDER_LOG if is_log_reviewer(actor, log_review_right) else Reach.NOTHING
    if kind is Kind.CLIENT:
        return Reach.OWN_CLIENT if isinstance(actor, RegionalSystem) else Reach.NOTHING
    if not _cares(actor):
        return Reach.NOTHING
    if res_type == "Binary":
        return Reach.SECURITY_CONTEXT
    if isinstance(actor, (Citizen, Guardian)):
        return Reach.COMPARTMENT
    return Reach.CASES


def person_of(actor: Citizen | Guardian) -> Citizen:
    """Return the citizen behind a citizen or guardian principal."""
    return actor.citizen if isinstance(actor, Guardian) else actor


@dataclass(frozen=True)
class CustodyPolicy:
    """Until which age a guardian may act for a child; None when 1177's hand-over is off."""

    child_takes_over_at: int | None = CHILD_TAKES_OVER_AT

    @property
    def limit(self) -> int:
        """Return the age from which the guardian no longer has access."""
        if self.child_takes_over_at is None:
            return AGE_OF_MAJORITY
        return min(self.child_takes_over_at, AGE_OF_MAJORITY)


def guardian_may_act_for(child: str, confirmed: bool, today: date, policy: CustodyPolicy) -> bool:
    """Tell whether a guardian whose custody the register confirmed may act for this child today."""
    if not confirmed:
        return False
    try:
        identity = parse_personal_identity(child, today)
    except InvalidPersonalIdentity:
        return False
    return identity.age_on(today) < policy.limit


def persons_in_reach(actor: Citizen | Guardian, confirmed_children: Iterable[str], today: date,
                     policy: CustodyPolicy) -> frozenset[str]:
    """Return the personnummer whose data the citizen may see: their own, and eligible children."""
    own = person_of(actor).person_id
    return frozenset({own} | {c for c in confirmed_children if guardian_may_act_for(c, True, today, policy)})


@dataclass(frozen=True)
class WriteFacts:
    """What the hub found out about a write, for `write_ruling`.

    `in_reach`: every patient and case the body names is one the actor may write for (a
    citizen's compartment; a clinician's unit, a system's region). `names_patient`: the body
    names at least one patient or case at all. `current_writable`: for an update, the stored
    version is writable for the actor (not merely visible, as it is under emergency access).
    """

    in_reach: bool
    names_patient: bool = True
    current_writable: bool = True
    same_patients: bool = True
    current_status: str | None = None


def write_ruling(actor: Actor, res_type: str, action: Action, facts: WriteFacts) -> Ruling:
    """Decide a create or update whose type-level rule said VISIBLE, from the body's facts."""
    if isinstance(actor, HubItself):
        return OPEN
    if action is Action.UPDATE:
        if not facts.current_writable:
            return forbidden(f"This {res_type} is not at your unit (or region); you may read it but not change it")
        if not facts.same_patients:
            return forbidden("An update may not move a resource to another patient")
        if isinstance(actor, (Citizen, Guardian)) and facts.current_status != CITIZEN_UPDATABLE_STATUS:
            return forbidden(f"Only a {res_type} still {CITIZEN_UPDATABLE_STATUS} may be changed by the citizen")
    if not facts.names_patient and kind_of(res_type) is Kind.PATIENT and res_type != "Patient":
        return forbidden(f"A {res_type} must name the patient or case it belongs to")
    if not facts.in_reach:
        if isinstance(actor, (Citizen, Guardian)):
            return forbidden("You may write only in your own records, or your child's")
        if isinstance(actor, RegionalSystem):
            return forbidden(f"This {res_type} is not anchored in your region's units")
        return forbidden(f"This {res_type} does not belong to a case at your care unit")
    return OPEN


def emergency_ruling(actor: Actor, reason: str | None) -> Ruling:
    """Decide whether a request may open emergency access (nödåtkomst) with the reason it gives."""
    if not isinstance(actor, Clinician):
        return forbidden("Only a clinician acting under a commission for care may use emergency access")
    if not actor.commission.for_care:
        return forbidden(_not_for_care(actor))
    text = (reason or "").strip()
    if len(text) < MIN_EMERGENCY_REASON:
        return forbidden(f"Emergency access needs a stated reason of at least {MIN_EMERGENCY_REASON} characters")
    return OPEN


def grant_expiry(now: datetime, hours: float = DEFAULT_EMERGENCY_HOURS) -> datetime:
    """Return when an emergency-access grant made now stops giving access."""
    return now + timedelta(hours=hours)


def must_audit(actor: Actor, res_type: str | None, action: Action) -> bool:
    """Tell whether an interaction touches patient data, so writes an AuditEvent (PDL 4 kap. 3 §)."""
    if actor is None or isinstance(actor, HubItself):
        return False
    if res_type is None:
        return action is Action.SEARCH
    return kind_of(res_type) in (Kind.PATIENT, Kind.AUDIT)



def purpose_of_use(actor: Principal, emergency: bool) -> tuple[str, str]:
    """Return the v3 ActReason code and its display for why the actor accesses the data."""
    if emergency:
        return "ETREAT", "Emergency Treatment"
    if isinstance(actor, Guardian):
        return "FAMRQT", "family requested"
    if isinstance(actor, Citizen):
        return "PATRQT", "patient requested"
    return "TREAT", "treatment"
