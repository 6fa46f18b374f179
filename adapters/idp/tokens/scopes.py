"""Parse SMART scopes and answer "may this token do that interaction on that type?".

SMART v2 writes a resource scope as `<context>/<type>.<cruds>[?<query>]`; v1's `.read`, `.write`
and `.*` are still sent by older apps and are read here as their v2 equivalents. The matcher is
the one place the FHIR endpoint asks; a scope with a `?query` only allows what its query selects,
so `allows` ignores it and `granular` hands the queries to the caller to apply as filters.
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from fhir_api.resource_types import R4_RESOURCE_TYPES

Context = Literal["patient", "user", "system"]
Interaction = Literal["c", "r", "u", "d", "s"]

CONTEXTS: tuple[str, ...] = ("patient", "user", "system")
INTERACTION_ORDER = "cruds"
# v1 permissions as the v2 letters they mean (SMART v2 §"Scope equivalence").
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
# Scopes that are not about resources; anything else that is not a resource scope is unknown.
KNOWN_SCOPES = frozenset({
    "openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter",
    "offline_access", "online_access",
})
# Which letter each FHIR interaction needs, for the endpoint that enforces scopes.
FHIR_INTERACTION_LETTERS: dict[str, str] = {
    "read": "r", "vread": "r", "history-instance": "r", "history-type": "s", "search-type": "s",
    "search-system": "s", "history-system": "s", "create": "c", "update": "u", "patch": "u",
    "delete": "d",
}

_RESOURCE_SCOPE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<perm>[a-z*]+)(?:\?(?P<query>.+))?$"
)
_V2_PERM = re.compile(r"^c?r?u?d?s?$")


class ScopeError(ValueError):
    """A scope string that claims to be a resource scope but does not follow the grammar."""


@dataclass(frozen=True)
class ResourceScope:
    """One `context/Type.cruds` scope: which interactions it grants on which type, and where."""

    context: str
    resource_type: str
    interactions: frozenset[str]
    query: str = ""
    text: str = ""

    def covers(self, resource_type: str, interaction: str, context: str) -> bool:
        """Tell whether this scope, ignoring any query restriction, grants the interaction."""
        return (self.context == context and interaction in self.interactions
                and self.resource_type in ("*", resource_type))

    def render(self) -> str:
        """Write the scope back in v2 form, e.g. `patient/Observation.rs`."""
        letters = "".join(c for c in INTERACTION_ORDER if c in self.interactions)
        base = f"{self.context}/{self.resource_type}.{letters}"
        return f"{base}?{self.query}" if self.query else base


def parse_resource_scope(text: str) -> ResourceScope | None:
    """Parse one resource scope; return None for a scope that is not about resources."""
    if not text.startswith(("patient/", "user/", "system/")):
        return None
    match = _RESOURCE_SCOPE.match(text)
    if match is None:
        raise ScopeError(f"scope {text!r} is not of the form context/Type.cruds")
    res_type, perm = match["type"], match["perm"]
    if res_type != "*" and res_type not in R4_RESOURCE_TYPES:
        raise ScopeError(f"scope {text!r} names {res_type!r}, which is not an R4 resource type")
    if perm in V1_PERMISSIONS:
        if match["query"]:
            raise ScopeError(f"scope {text!r} mixes a v1 permission with a v2 query")
        letters = V1_PERMISSIONS[perm]
    elif perm and _V2_PERM.match(perm):
        letters = perm
    else:
        raise ScopeError(f"scope {text!r} has permissions {perm!r}; use letters from 'cruds' in that "
                         "order, or read, write or *")
    return ResourceScope(match["context"], res_type, frozenset(letters), match["query"] or "", text)


@dataclass(frozen=True)
class Scopes:
    """A parsed, space-separated scope string: resource scopes plus the launch and OIDC scopes."""

    resource: tuple[ResourceScope, ...] = ()
    other: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> Scopes:
        """Parse a scope string (or its words); raise ScopeError on a malformed resource scope."""
        words = text.split() if isinstance(text, str) else list(text)
        resource: list[ResourceScope] = []
        other: set[str] = set()
        for word in dict.fromkeys(words):
            parsed = parse_resource_scope(word)
            if parsed is None:
                other.add(word)
            else:
                resource.append(parsed)
        return cls(tuple(resource), frozenset(other))

    def allows(self, resource_type: str, interaction: str, context: str) -> bool:
        """Tell whether an unrestricted scope of this context grants the interaction on the type.

        `context` is required on purpose: `patient/` scopes only ever allow the launch patient's
        compartment, and the caller must know which rule it is applying.
        """
        if interaction not in INTERACTION_ORDER or len(interaction) != 1:
            raise ValueError(f"interaction must be one of c, r, u, d, s, not {interaction!r}")
        if context not in CONTEXTS:
            raise ValueError(f"context must be patient, user or system, not {context!r}")
        return any(s.covers(resource_type, interaction, context) and not s.query for s in self.resource)

    def granular(self, resource_type: str, interaction: str, context: str) -> tuple[str, ...]:
        """Return the queries of restricted scopes that would grant the interaction, to apply as filters."""
        return tuple(s.query for s in self.resource
                     if s.query and s.covers(resource_type, interaction, context))

    def contexts_allowing(self, resource_type: str, interaction: str) -> frozenset[str]:
        """Return every context (patient, user, system) in which the interaction is allowed."""
        return frozenset(c for c in CONTEXTS if self.allows(resource_type, interaction, c))

    def has(self, scope: str) -> bool:
        """Tell whether a non-resource scope such as `openid` or `launch/patient` is present."""
        return scope in self.other

    @property
    def contexts(self) -> frozenset[str]:
        """Return the contexts the resource scopes are in."""
        return frozenset(s.context for s in self.resource)

    def words(self) -> list[str]:
        """Return the scopes as words, the non-resource ones first, in a stable order."""
        return sorted(self.other) + [s.text or s.render() for s in self.resource]

    def __str__(self) -> str:
        return " ".join(self.words())

    def without_contexts(self, contexts: Iterable[str]) -> Scopes:
        """Drop every resource scope in the given contexts."""
        dropped = set(contexts)
        return Scopes(tuple(s for s in self.resource if s.context not in dropped), self.other)

    def grant(self, allowed: Scopes, *, contexts: Iterable[str] = CONTEXTS) -> Scopes:
        """Narrow these requested scopes to what `allowed` covers, in the given contexts only.

        A requested scope keeps the interactions some allowed scope of its context and type
        grants (an allowed query must equal the requested one); unknown non-resource scopes are
        dropped, as RFC 6749 §3.3 lets a server grant less than was asked.
        """
        wanted = set(contexts)
        granted: list[ResourceScope] = []
        for req in self.resource:
            if req.context not in wanted:
                continue
            letters: set[str] = set()
            for a in allowed.resource:
                if (a.context == req.context and a.resource_type in ("*", req.resource_type)
                        and a.query in ("", req.query)):
                    letters |= a.interactions
            kept = req.interactions & letters
            if kept == req.interactions:
                granted.append(req)
            elif kept:
                granted.append(ResourceScope(req.context, req.resource_type, frozenset(kept), req.query))
        other = (self.other & allowed.other) & KNOWN_SCOPES
        return Scopes(tuple(granted), frozenset(other))

    def is_within(self, original: Scopes) -> bool:
        """Tell whether every scope here is covered by `original` (for narrowing on refresh)."""
        return self.grant(original) == self and self.other <= original.other
