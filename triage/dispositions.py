"""Define the six dispositions, their order of urgency and how they map to the gold scales.

The order is the one thing every part of the engine agrees on: a lower rank is more urgent,
so "at least as urgent" is `rank <= rank` and the engine can stop once an emergency fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DISPOSITION_SYSTEM: Final = "https://ingang.example/fhir/CodeSystem/triage-disposition"
COMPETENCE_SYSTEM: Final = "https://ingang.example/fhir/CodeSystem/competence"

DISPOSITIONS: Final[tuple[str, ...]] = (
    "emergency-112",
    "emergency-department",
    "urgent",
    "within-24h",
    "within-week",
    "self-care",
)
EMERGENCIES: Final = frozenset({"emergency-112", "emergency-department"})

COMPETENCES: Final = frozenset(
    {
        "nurse",
        "doctor",
        "psychologist",
        "physiotherapist",
        "midwife",
        "dentist",
        "pharmacist",
        "ambulance",
    }
)

FOUR_LEVEL: Final[dict[str, str]] = {
    "emergency-112": "emergency",
    "emergency-department": "emergency",
    "urgent": "urgent",
    "within-24h": "urgent",
    "within-week": "non-urgent",
    "self-care": "self-care",
}
THREE_LEVEL: Final[dict[str, str]] = {
    "emergency-112": "emergency",
    "emergency-department": "emergency",
    "urgent": "care",
    "within-24h": "care",
    "within-week": "care",
    "self-care": "self-care",
}
SCALES: Final[dict[str, tuple[str, ...]]] = {
    "4-level": ("emergency", "urgent", "non-urgent", "self-care"),
    "3-level": ("emergency", "care", "self-care"),
    "6-level": DISPOSITIONS,
}


@dataclass(frozen=True)
class DispositionInfo:
    """Tell the citizen what a disposition means, in Swedish first."""

    code: str
    priority: int
    display_sv: str
    display_en: str
    instruction_sv: str
    instruction_en: str


DISPOSITION_INFO: Final[dict[str, DispositionInfo]] = {
    info.code: info
    for info in (
        DispositionInfo(
            "emergency-112",
            1,
            "Ring 112 nu",
            "Call 112 now",
            "Ring 112 nu. Beskriv besvären och följ instruktionerna. Ät och drick inget tills du fått råd.",
            "Call 112 now. Describe the symptoms and follow the instructions. Do not eat or drink until advised.",
        ),
        DispositionInfo(
            "emergency-department",
            1,
            "Åk till akutmottagning nu",
            "Go to an emergency department now",
            "Åk till närmaste akutmottagning nu. Kör inte själv. Ring 112 om du blir sämre på vägen.",
            "Go to the nearest emergency department now. Do not drive yourself. Call 112 if you get worse on the way.",
        ),
        DispositionInfo(
            "urgent",
            2,
            "Vård inom några timmar",
            "Care within hours",
            "Du behöver bedömas av vården i dag, inom några timmar. Ring 112 om du blir sämre.",
            "You need to be assessed today, within hours. Call 112 if you get worse.",
        ),
        DispositionInfo(
            "within-24h",
            3,
            "Vård inom ett dygn",
            "Care within a day",
            "Du behöver bedömas av vården inom ett dygn. Sök vård direkt om du blir sämre.",
            "You need to be assessed within a day. Seek care at once if you get worse.",
        ),
        DispositionInfo(
            "within-week",
            4,
            "Vård inom några dagar",
            "Care within days",
            "Boka en tid i vården inom de närmaste dagarna. Sök vård tidigare om du blir sämre.",
            "Book an appointment within the next few days. Seek care sooner if you get worse.",
        ),
        DispositionInfo(
            "self-care",
            5,
            "Egenvård",
            "Self-care",
            "Du kan troligen sköta besvären själv. Följ råden nedan och sök vård om något av varningstecknen dyker upp.",
            "You can probably manage this yourself. Follow the advice below and seek care if any warning sign appears.",
        ),
    )
}


def rank(disposition: str) -> int:
    """Return the urgency rank of a disposition: 0 is the most urgent."""
    return DISPOSITIONS.index(disposition)


def is_emergency(disposition: str) -> bool:
    """Say whether a disposition sends the citizen to emergency care now."""
    return disposition in EMERGENCIES


def on_scale(disposition: str, scale: str) -> str:
    """Map a disposition to its level on a gold scale ("3-level", "4-level" or "6-level")."""
    if scale == "4-level":
        return FOUR_LEVEL[disposition]
    if scale == "3-level":
        return THREE_LEVEL[disposition]
    if scale == "6-level":
        return disposition
    raise ValueError(f"unknown scale {scale!r}")


def level_rank(level: str, scale: str) -> int:
    """Return the urgency rank of a level on a scale: 0 is the most urgent."""
    return SCALES[scale].index(level)
