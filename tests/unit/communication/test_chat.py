"""The conversation's rules: messages, chat state, receipts, and which topic hears of which change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from communication.chat import (
    CHAT_ENDED,
    CHAT_OPENED,
    MAX_TEXT_CHARS,
    READ_EXTENSION,
    ChatRefused,
    chat_event,
    chat_is_open,
    chat_message,
    check_new_message,
    read_at,
    with_receipt,
)
from communication.events import case_events, communication_events

NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
LATER = datetime(2025, 3, 1, 12, 5, 0, tzinfo=UTC)


def _message(sender: str = "Patient/p") -> dict[str, object]:
    return chat_message(encounter_id="e", subject="Patient/p", sender=sender, recipient="PractitionerRole/r",
                        text="  Hej  ", now=NOW)


def test_chat_message__is_a_communication_of_the_encounter_with_trimmed_text_and_milliseconds() -> None:
    message = _message()
    assert message["encounter"] == {"reference": "Encounter/e"}
    assert message["payload"] == [{"contentString": "Hej"}]
    assert message["sent"] == "2025-03-01T12:00:00.123Z"


@pytest.mark.parametrize("text", ["", "   ", None, 42, "x" * (MAX_TEXT_CHARS + 1)])
def test_chat_message__empty_overlong_or_non_text_is_refused(text: object) -> None:
    with pytest.raises(ChatRefused):
        chat_message(encounter_id="e", subject="Patient/p", sender="Patient/p", recipient="Organization/u",
                     text=text, now=NOW)  # type: ignore[arg-type]


def test_chat_state__the_last_chat_event_and_the_encounter_decide() -> None:
    assert chat_is_open("in-progress", [])[0]
    assert not chat_is_open("in-progress", [CHAT_ENDED])[0]
    assert chat_is_open("in-progress", [CHAT_ENDED, CHAT_OPENED])[0]
    closed, why = chat_is_open("finished", [CHAT_OPENED])
    assert not closed and "finished" in why


def test_new_message__a_citizen_is_refused_with_a_conflict_once_the_chat_ended() -> None:
    with pytest.raises(ChatRefused) as refused:
        check_new_message(_message(), "in-progress", [CHAT_ENDED])
    assert refused.value.conflict


def test_new_message__the_clinician_may_still_write_into_an_ended_chat() -> None:
    check_new_message(_message("PractitionerRole/r"), "in-progress", [CHAT_ENDED])


def test_new_message__only_a_clinician_may_end_a_chat() -> None:
    event = chat_event(encounter_id="e", subject="Patient/p", sender="Patient/p", code=CHAT_ENDED, now=NOW)
    with pytest.raises(ChatRefused) as refused:
        check_new_message(event, "in-progress", [])
    assert not refused.value.conflict


def test_receipt__delivery_sets_received_once_and_reading_adds_when() -> None:
    delivered = with_receipt(_message(), "delivered", NOW)
    assert delivered is not None and delivered["received"] == "2025-03-01T12:00:00.123Z"
    assert with_receipt(delivered, "delivered", LATER) is None
    read = with_receipt(delivered, "read", LATER)
    assert read is not None and read["received"] == delivered["received"]
    assert read_at(read) == "2025-03-01T12:05:00.000Z"
    assert read["extension"] == [{"url": READ_EXTENSION, "valueDateTime": "2025-03-01T12:05:00.000Z"}]
    assert with_receipt(read, "read", LATER) is None


def test_receipt__reading_first_also_marks_delivery() -> None:
    read = with_receipt(_message(), "read", NOW)
    assert read is not None and read["received"] and read_at(read)


def test_receipt__an_unknown_kind_is_refused() -> None:
    with pytest.raises(ChatRefused):
        with_receipt(_message(), "seen", NOW)


def test_events__a_message_goes_to_its_encounter_with_its_seq() -> None:
    [event] = communication_events(_message(), res_id="m1", method="create", seq=41)
    assert event.topic == "encounter/e"
    assert (event.message["type"], event.message["seq"], event.message["id"]) == ("message", 41, "m1")
    [update] = communication_events(_message(), res_id="m1", method="update", seq=42)
    assert update.message["type"] == "receipt"


def test_events__a_communication_outside_an_encounter_goes_nowhere() -> None:
    assert communication_events({"resourceType": "Communication"}, res_id="m", method="create", seq=1) == []


def test_events__a_task_change_goes_to_each_units_waiting_room_and_the_encounter() -> None:
    task = {"resourceType": "Task", "status": "ready", "owner": {"reference": "Organization/u2"},
            "encounter": {"reference": "Encounter/e"}, "for": {"reference": "Patient/p"},
            "businessStatus": {"coding": [{"code": "waiting"}]}}
    events = case_events("Task", task, res_id="t", version=3, method="update", units={"u1", "u2"})
    assert [e.topic for e in events] == ["waiting-room/u1", "waiting-room/u2", "encounter/e"]
    assert events[0].message == {"type": "task", "id": "t", "version": 3, "method": "update", "status": "ready",
                                 "businessStatus": "waiting", "owner": "Organization/u2", "encounter": "e"}
