"""Keep delivered journal notes in memory: the embedded default's journal, and the tests'.

It keeps the port's promises exactly as a real journal must (one filing per identifier, the
same receipt on a repeat), and can be told to fail the next deliveries, so the hub's retry
and give-up paths are exercised without a network.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.vis.port import Delivered, JournalRejected, JournalUnavailable, document_identifier


class InMemoryJournal:
    """A journal that files documents in a dict keyed by Bundle.identifier."""

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.documents: dict[tuple[str, str], dict[str, Any]] = {}
        self.receipts: dict[tuple[str, str], Delivered] = {}
        self.attempts = 0
        self._failures: list[Exception] = []
        self._lock = threading.Lock()

    def fail_next(self, status: int, reason: str = "") -> None:
        """Make the next delivery fail as a journal answering `status` would (5xx: outage, 4xx: refusal)."""
        text = reason or f"the journal answered {status}"
        self._failures.append(JournalUnavailable(text) if status >= 500 or status in (408, 429)
                              else JournalRejected(text))

    def deliver(self, document: Mapping[str, Any]) -> Delivered:
        """File the document once; a repeat gets the first receipt."""
        key = document_identifier(document)
        with self._lock:
            self.attempts += 1
            if self._failures:
                raise self._failures.pop(0)
            if document.get("resourceType") != "Bundle" or document.get("type") != "document":
                raise JournalRejected("Only a document Bundle can be filed")
            if key not in self.receipts:
                self.documents[key] = dict(document)
                self.receipts[key] = Delivered(f"{self.name}-{uuid.uuid4().hex[:12]}", datetime.now(UTC))
            return self.receipts[key]

    def filed(self) -> int:
        """Return how many distinct documents the journal holds."""
        return len(self.documents)
