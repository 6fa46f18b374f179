"""Define the port through which a closed case's journal note reaches the region's journal (VIS).

Every region runs its own journal system; the hub only needs one thing of it: take this
document, once. A region can implement `JournalExport` for its own system; the hub ships a
FHIR implementation (fhir_export.py) and an in-memory fake (fake.py), and one contract suite
holds both to the same promises: the same document delivered twice is filed once and gives
the same receipt; a refusal says why; an outage says to try again.
https://hl7.org/fhir/R4/documents.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Delivered:
    """The journal's receipt: its id for the filed document, and when it got it."""

    remote_id: str
    received_at: datetime
    location: str = ""


class JournalRejected(Exception):
    """The journal refused the document for good (a 4xx with its reason); retrying cannot help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JournalUnavailable(Exception):
    """The journal could not take the document now (down, slow, throttled); try again later."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class JournalExport(Protocol):
    """Deliver one document Bundle to a region's journal, idempotently by Bundle.identifier."""

    def deliver(self, document: Mapping[str, Any]) -> Delivered:
        """File the document (or find it filed already) and return the receipt.

        Raises JournalRejected or JournalUnavailable; never a vendor's own exception.
        """
        ...


def document_identifier(document: Mapping[str, Any]) -> tuple[str, str]:
    """Return (system, value) of a document's Bundle.identifier; JournalRejected if it has none."""
    identifier = document.get("identifier")
    if not isinstance(identifier, Mapping) or not identifier.get("system") or not identifier.get("value"):
        raise JournalRejected("The document has no Bundle.identifier, so it cannot be delivered exactly once")
    return str(identifier["system"]), str(identifier["value"])
