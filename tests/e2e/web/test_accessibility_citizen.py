"""Check every screen of the citizen pages with axe-core, in Swedish and English, and by keyboard.

WCAG 2.1 AA as axe-core tests it: no serious or critical violation on any screen a citizen can
reach (start, who, each kind of question, self-care advice; the waiting room and the emergency
screen are checked in test_citizen.py). Axe cannot judge everything, so the tests also check
what it cannot: the page's language follows the choice, and the questions can be answered with
the keyboard alone.
https://www.w3.org/TR/WCAG21/
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.web.conftest import (
    Shots,
    WebHub,
    answer_triage,
    assert_accessible,
    log_in_as_parent_for_child,
)

pytestmark = pytest.mark.e2e


def test_start_page__has_no_serious_violations_in_swedish_or_english(citizen_page: Any, web_hub: WebHub,
                                                                      shots: Shots) -> None:
    page = citizen_page
    page.goto(web_hub.url("/web/citizen/"))
    page.locator("#view-start").wait_for(state="visible")
    assert page.locator("html").get_attribute("lang") == "sv"
    assert_accessible(page, "the start page in Swedish")

    page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Contact care"
    assert page.get_by_role("button", name="Log in").is_visible()
    shots.take(page, "start-english")
    assert_accessible(page, "the start page in English")

    page.reload()
    assert page.locator("html").get_attribute("lang") == "en", "the language choice is not remembered"
    page.get_by_role("button", name="Svenska").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Kontakta vården"


def test_each_kind_of_question_and_the_self_care_advice__have_no_serious_violations(
        citizen_page: Any, web_hub: WebHub, shots: Shots) -> None:
    page = citizen_page
    log_in_as_parent_for_child(page, web_hub, check=assert_accessible)
    assert_accessible(page, "the who-is-it-for screen")
    page.get_by_role("button", name="Börja svara på frågorna").click()
    page.locator("#view-question").wait_for(state="visible")
    assert_accessible(page, "a choice question (the complaint)")

    checked: set[str] = set()

    def check_each_kind(page: Any) -> None:
        kind = "number" if page.locator("#q-number").count() else "yes-no"
        if kind not in checked and not page.locator("#q-legend").inner_text().startswith("Vad söker du för"):
            assert_accessible(page, f"a {kind} question")
            shots.take(page, f"{kind}-question")
            checked.add(kind)

    assert answer_triage(page, "Utslag eller klåda", {"antal dygn": "2"}, on_each=check_each_kind) == "selfcare"
    assert checked == {"number", "yes-no"}
    shots.take(page, "self-care")
    assert page.get_by_role("heading", name="Gör så här").is_visible()
    assert page.get_by_role("heading", name="Sök vård om").is_visible()
    assert_accessible(page, "the self-care advice")


def test_questions__can_be_answered_with_the_keyboard_alone(citizen_page: Any, web_hub: WebHub) -> None:
    page = citizen_page
    log_in_as_parent_for_child(page, web_hub)
    page.get_by_role("button", name="Börja svara på frågorna").focus()
    page.keyboard.press("Enter")
    page.locator("#view-question").wait_for(state="visible")
    assert page.evaluate("() => document.activeElement.id") == "q-legend", "focus did not move to the question"

    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.name") == "answer"
    page.keyboard.press("Space")
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "q-next":
            break
    assert page.evaluate("() => document.activeElement.id") == "q-next", "Tab does not reach the Next button"
    page.keyboard.press("Enter")
    page.wait_for_function("() => !document.getElementById('q-legend').textContent.startsWith('Vad söker du för')")
    assert page.locator("#q-progress-text").inner_text() == "Fråga 2"
