"""Confirm custody through the population register before a citizen may act for a child.

A guardian's word is never enough: the hub asks the population register (Navet, through a
port) whether the person is the child's guardian, and only then makes a `Guardian`. The port
lives here, beside its in-memory fake, until the core has a home for it; the real register
client is another adapter's work. Custody: Föräldrabalken (SFS 1949:381) 6 kap.
https://sv.wikipedia.org/wiki/Vårdnad
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Protocol

from adapters.idp.oidc.errors import NotGuardian
from cases.principals import Citizen, Guardian
from mappings.personnummer import InvalidPersonalIdentity, parse_personal_identity

# Custody ends when the child turns 18 (Föräldrabalken 6 kap. 2 §).
AGE_OF_MAJORITY = 18


class PopulationRegister(Protocol):
    """Who has custody of whom, by 12-digit personnummer or samordningsnummer."""

    def guardians_of(self, child: str) -> Sequence[str]:
        """Return the guardians of a child, empty when the register knows of none."""
        ...

    def children_of(self, guardian: str) -> Sequence[str]:
        """Return the children a person has custody of, empty when none."""
        ...


class InMemoryPopulationRegister:
    """A population register held in memory: the dev IdP's and the tests' stand-in for Navet."""

    def __init__(self, families: Mapping[str, Iterable[str]]) -> None:
        self._children = {guardian: tuple(children) for guardian, children in families.items()}
        guardians: dict[str, list[str]] = {}
        for guardian, children in self._children.items():
            for child in children:
                guardians.setdefault(child, []).append(guardian)
        self._guardians = {child: tuple(g) for child, g in guardians.items()}

    def guardians_of(self, child: str) -> Sequence[str]:
        """Return the guardians of a child, empty when the register knows of none."""
        return self._guardians.get(child, ())

    def children_of(self, guardian: str) -> Sequence[str]:
        """Return the children a person has custody of, empty when none."""
        return self._children.get(guardian, ())


def act_for_child(citizen: Citizen, child: str, register: PopulationRegister,
                  today: date | None = None) -> Guardian:
    """Return the citizen acting for the child, once the register confirms custody of a minor."""
    try:
        identity = parse_personal_identity(child, today)
    except InvalidPersonalIdentity as exc:
        raise NotGuardian(f"the child's number is not valid: {exc.reason}") from None
    # Ask both directions: a register answer that disagrees with itself is no confirmation.
    confirmed = (citizen.person_id in register.guardians_of(identity.number)
                 and identity.number in register.children_of(citizen.person_id))
    if not confirmed:
        raise NotGuardian("the population register does not list you as the child's guardian")
    if identity.age_on(today or date.today()) >= AGE_OF_MAJORITY:
        raise NotGuardian("the child is 18 or older and logs in for themselves")
    return Guardian(citizen=citizen, child_person_id=identity.number)
