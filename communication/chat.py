"""Write chat messages, receipts and chat state as FHIR Communication: the conversation's rules.

A chat is the Communications of one Encounter, so an EHR reads the transcript with an ordinary
search (`Communication?encounter=…`). A message has sender, recipient, payload text and `sent`;
delivery is `received`, and reading is an extension with when it was read, since R4 has no
element for it. Whether the chat is open is itself written down: the clinician ends (or opens
again) the chat with a Communication whose category says so, so the state has a history and
survives restarts; a finished or cancelled Encounter closes the chat as well.
https://hl7.org/fhir/R4/communication.html
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

CHAT_EVENT_SYSTEM = "https://ingang.se/fhir/CodeSystem/chat-event"
CHAT_ENDED, CHAT_OPENED = "chat-ended", "chat-opened"
READ_EXTENSION = "https://ingang.se/fhir/StructureDefinition/communication-read"
CLOSED_ENCOUNTER = frozenset({"finished", "cancelled", "entered-in-error"})
MAX_TEXT_CHARS = 4000
CITIZEN_SENDERS = ("Patient/", "RelatedPerson/")
CLINICIAN_SENDERS = ("PractitionerRole/", "Practitioner/")
EVENT_TEXT = {CHAT_ENDED: "Chatten är avslutad av vårdpersonalen.", CHAT_OPENED: "Chatten är öppen igen."}


class ChatRefused(Exception):
    """A message or chat step the rules do not allow; `conflict` when the chat's state is why."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


def instant(when: datetime) -> str:
    """Format a FHIR instant in UTC, to the millisecond, so messages sent in one second keep order."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


def chat_message(*, encounter_id: str, subject: str, sender: str, recipient: str, text: str,
                 now: datetime) -> dict[str, Any]:
    """Return the Communication for one chat message; refuse empty or overlong text."""
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise ChatRefused("A chat message needs some text")
    if len(text) > MAX_TEXT_CHARS:
        raise ChatRefused(f"A chat message can be at most {MAX_TEXT_CHARS} characters; this one has {len(text)}")
    return {
        "resourceType": "Communication", "status": "completed",
        "subject": _ref(subject), "encounter": _ref(f"Encounter/{encounter_id}"),
        "sender": _ref(sender), "recipient": [_ref(recipient)],
        "payload": [{"contentString": text}], "sent": instant(now),
    }


def chat_event(*, encounter_id: str, subject: str, sender: str, code: str, now: datetime) -> dict[str, Any]:
    """Return the Communication that ends or opens the chat, sent by the clinician."""
    if code not in EVENT_TEXT:
        raise ChatRefused(f"Unknown chat event {code!r}")
    return {
        "resourceType": "Communication", "status": "completed",
        "category": [{"coding": [{"system": CHAT_EVENT_SYSTEM, "code": code}]}],
        "subject": _ref(subject), "encounter": _ref(f"Encounter/{encounter_id}"),
        "sender": _ref(sender), "recipient": [_ref(subject)],
        "payload": [{"contentString": EVENT_TEXT[code]}], "sent": instant(now),
    }


def chat_event_code(communication: Mapping[str, Any]) -> str | None:
    """Return `chat-ended` or `chat-opened` if the Communication is a chat event, else None."""
    for category in communication.get("category") or []:
        for coding in (category or {}).get("coding") or []:
            if coding.get("system") == CHAT_EVENT_SYSTEM and coding.get("code") in EVENT_TEXT:
                return str(coding["code"])
    return None


def _reference(value: Any) -> str:
    return str(value.get("reference") or "") if isinstance(value, Mapping) else ""


def sender_of(communication: Mapping[str, Any]) -> str:
    """Return the sender's reference (`Patient/x`, `PractitionerRole/y`), or ''."""
    return _reference(communication.get("sender"))


def encounter_of(communication: Mapping[str, Any]) -> str | None:
    """Return the id of the Encounter a Communication belongs to, if it is a local reference."""
    ref = _reference(communication.get("encounter"))
    return ref.removeprefix("Encounter/") if ref.startswith("Encounter/") else None


def from_citizen(communication: Mapping[str, Any]) -> bool:
    """Tell whether a citizen (the patient, or someone for them) sent it."""
    return sender_of(communication).startswith(CITIZEN_SENDERS)


def chat_is_open(encounter_status: str | None, events: Iterable[str]) -> tuple[bool, str]:
    """Tell whether the citizen may write, from the Encounter's status and the chat events in order."""
    if encounter_status in CLOSED_ENCOUNTER:
        return False, f"The case is closed (the Encounter is {encounter_status}); no new messages can be sent"
    last = None
    for code in events:
        last = code
    if last == CHAT_ENDED:
        return False, "The clinician has ended this chat; no new messages can be sent"
    return True, ""


def check_new_message(communication: Mapping[str, Any], encounter_status: str | None,
                      events: Iterable[str]) -> None:
    """Refuse a new Communication in an encounter the rules close to its sender."""
    code = chat_event_code(communication)
    if code is not None:
        if not sender_of(communication).startswith(CLINICIAN_SENDERS):
            raise ChatRefused("Only the clinician can end or open a chat")
        return
    if from_citizen(communication):
        is_open, why = chat_is_open(encounter_status, events)
        if not is_open:
            raise ChatRefused(why, conflict=True)


def read_at(communication: Mapping[str, Any]) -> str | None:
    """Return when the recipient read the message, if they have."""
    for ext in communication.get("extension") or []:
        if ext.get("url") == READ_EXTENSION:
            value = ext.get("valueDateTime")
            return str(value) if value else None
    return None


def with_receipt(communication: Mapping[str, Any], kind: str, now: datetime) -> dict[str, Any] | None:
    """Return the Communication with a delivery or read receipt added, or None if it has one already.

    Reading implies delivery: a read receipt sets `received` too when it is missing.
    """
    if kind not in ("delivered", "read"):
        raise ChatRefused(f"A receipt is 'delivered' or 'read', not {kind!r}")
    if chat_event_code(communication) is not None:
        return None
    updated = copy.deepcopy(dict(communication))
    changed = False
    if not updated.get("received"):
        updated["received"] = instant(now)
        changed = True
    if kind == "read" and read_at(updated) is None:
        updated.setdefault("extension", []).append({"url": READ_EXTENSION, "valueDateTime": instant(now)})
        changed = True
    return updated if changed else None
