"""Name the errors the triage engine raises, so callers can map them without string matching.

`TriageInputError` is the citizen's (or client's) fault and becomes a 400 OperationOutcome;
`ProtocolError` is ours: a protocol file that does not validate must stop the catalog loading.
"""

from __future__ import annotations


class TriageError(Exception):
    """Base of every error the triage package raises on purpose."""


class TriageInputError(TriageError):
    """Reject a malformed QuestionnaireResponse; `location` is a FHIRPath-like pointer to it.

    The HTTP layer turns this into a 400 OperationOutcome with `issue.expression = [location]`.
    """

    def __init__(self, message: str, location: str = "QuestionnaireResponse") -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        return f"{self.message} (at {self.location})"


class ProtocolError(TriageError):
    """Refuse a protocol file that does not validate; says which file and why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
