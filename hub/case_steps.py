"""Take a step of a case's life on the store, and keep every other write to a case Task honest.

`CaseSteps.take` is how anything in the hub moves a case — the Task operations, booking, a
transfer to another hub: it asks the state machine (cases/lifecycle.py), then writes the Task
and its Encounter with the repository's version check, so of two clinicians claiming at once
exactly one wins and the other gets 409. `on_write` is a write listener: a PUT or PATCH of a
case Task (or of its Encounter's status) goes through the same table, so no one can bypass it,
and the waiting-room row (hub/case_queue.py) follows every change in the same transaction.
https://hl7.org/fhir/R4/task.html#statemachine
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from cases.lifecycle import (
    IllegalStep,
    NotACase,
    Role,
    State,
    Step,
    check,
    encounter_matches,
    is_case_task,
    owner_of,
    put_encounter_in,
    put_task_in,
    state_of,
    step_between,
    verb,
)
from cases.waiting_room import queue_row
from fhir_api import changes
from fhir_api.changes import Change
from fhir_api.outcomes import Conflict, Forbidden
from fhir_api.server import FhirServer
from fhir_api.store.repository import Stored
from fhir_api.store.schema import resource_versions, resources
from hub.case_queue import CaseQueue

# Versions the hub wrote itself after checking the step, on this connection's unit of work.
_CHECKED = "case_steps_checked"
Edit = Callable[[dict[str, Any]], None]


def _checked(conn: Connection) -> set[tuple[str, str, int]]:
    """Return the versions checked in this unit of work.

    `conn.info` outlives the unit of work (it goes back to the pool with the connection), and a
    version marked in one that rolled back must not pass unchecked in the next: the set is
    tied to the unit of work's own list of changes, which each unit of work makes afresh.
    """
    current = changes.recorded(conn)
    held = conn.info.get(_CHECKED)
    if held is None or held[0] is not current:
        held = conn.info[_CHECKED] = (current, set())
    marks: set[tuple[str, str, int]] = held[1]
    return marks


def previous_version(conn: Connection, change: Change) -> dict[str, Any] | None:
    """Return the version a change replaced, or None for a create.

    By the row's key and version number, both unique: history is indexed by type and global
    version order, so the repository's vread by type and id scans every version of the type.
    """
    if change.version <= 1:
        return None
    rv, r = resource_versions.c, resources.c
    content = conn.execute(select(rv.content).join(resources, r.rid == rv.rid).where(
        r.res_type == change.res_type, r.res_id == change.res_id, rv.version_id == change.version - 1)).scalar()
    return orjson.loads(content) if content else None


def utc_now() -> datetime:
    """Return the current time, timezone-aware."""
    return datetime.now(UTC)


@dataclass
class Case:
    """A case as stored: its Task, its Encounter (when it has one) and the state they are in."""

    task: Stored
    encounter: Stored | None
    state: State

    @property
    def task_json(self) -> dict[str, Any]:
        """Return the Task's content."""
        return self.task.json()


def conflict(err: IllegalStep, task_id: str) -> Conflict | Forbidden:
    """Turn a refused step into the OperationOutcome that names it: 409, or 403 when it is not the caller's to take."""
    if err.by_role:
        return Forbidden(err.message, (f"Task/{task_id}",))
    return Conflict(err.message, (f"Task/{task_id}",), issue_code="business-rule")


class CaseSteps:
    """Read cases and move them on, on the request's connection; never commits."""

    def __init__(self, server: FhirServer, queue: CaseQueue | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.server, self.repo = server, server.repo
        self.queue = queue or CaseQueue()
        self.clock = clock

    def load(self, conn: Connection, task_id: str, step: str) -> Case:
        """Return the case whose Task this is; 409 naming the step when the Task is no case's."""
        task = self.repo.read(conn, "Task", task_id)
        content = task.json() if task is not None and not task.deleted else {}
        if task is None or not is_case_task(content):
            raise Conflict(f"cannot {step}: Task/{task_id} is not the work item of a case", (f"Task/{task_id}",),
                           issue_code="business-rule")
        try:
            state = state_of(content)
        except NotACase as exc:
            raise Conflict(f"cannot {step}: {exc}", ("Task.businessStatus",), issue_code="business-rule") from None
        ref = (content.get("encounter") or {}).get("reference")
        encounter = None
        if isinstance(ref, str) and ref.startswith("Encounter/"):
            found = self.repo.read(conn, "Encounter", ref.split("/", 1)[1])
            encounter = found if found is not None and not found.deleted else None
        return Case(task, encounter, state)

    def take(self, conn: Connection, case: Case, step: Step, role: Role, *, owner: str | None = None,
             unit: str | None = None, edit: Edit | None = None) -> Stored:
        """Take `step` on the case as `role`: check it, then write the Task and the Encounter.

        `owner` is the Task's new owner, `unit` the Encounter's new serviceProvider (a transfer);
        `edit` adds what the step records on the Task (the note, the outcome, the reason).
        """
        try:
            transition = check(step, case.state, role)
        except IllegalStep as err:
            raise conflict(err, case.task.res_id) from None
        now = self.clock()
        task = put_task_in(case.task_json, transition.target, now, owner)
        if edit is not None:
            edit(task)
        try:
            stored = self.repo.update(conn, case.task, task)
        except Conflict:
            raise Conflict(f"cannot {verb(step)}: the case was changed by someone else at the same moment; "
                           "read it again", (f"Task/{case.task.res_id}",)) from None
        self._mark(conn, stored)
        if case.encounter is not None:
            performer = owner_of(task) if transition.target == State.IN_PROGRESS else None
            encounter = put_encounter_in(case.encounter.json(), transition.target, now, performer, unit)
            self._mark(conn, self.repo.update(conn, case.encounter, encounter))
        return stored

    # --- the write listener --------------------------------------------------------------

    def on_write(self, conn: Connection, changes: list[Change]) -> None:
        """Check each written case Task's step and keep its Encounter and queue row in step."""
        checked = _checked(conn)
        for change in changes:
            if change.res_type == "Task" and change.method == "delete":
                self.queue.remove(conn, change.res_id)  # a deleted Task waits nowhere
            elif change.res_type == "Task":
                self._task_written(conn, change, (change.res_type, change.res_id, change.version) in checked)
            elif change.res_type == "Encounter" and change.method == "update" and (
                    ("Encounter", change.res_id, change.version) not in checked):
                self._encounter_written(conn, change)

    def _mark(self, conn: Connection, stored: Stored) -> None:
        _checked(conn).add((stored.res_type, stored.res_id, stored.version_id))

    def _task_written(self, conn: Connection, change: Change, checked: bool) -> None:
        after = change.json()
        # A step the hub took itself was checked before it was written: no need to read back.
        before = None if checked else previous_version(conn, change)
        was_case = checked or (before is not None and is_case_task(before))
        if not is_case_task(after):
            if was_case:
                raise Conflict("cannot update: a case's Task keeps its code 'triage-case'", ("Task.code",),
                               issue_code="business-rule")
            return
        try:
            state = state_of(after)
            transition = None if checked or not was_case or before is None else step_between(before, after)
        except NotACase as exc:
            raise Conflict(f"cannot update: {exc}", ("Task.businessStatus",), issue_code="business-rule") from None
        except IllegalStep as err:
            raise conflict(err, change.res_id) from None
        row = queue_row(after, self.queue.get(conn, change.res_id), _naive(self.clock()))
        if row is not None:
            self.queue.put(conn, row)
        if transition is not None:
            self._follow(conn, after, state)

    def _follow(self, conn: Connection, task: dict[str, Any], state: State) -> None:
        """Bring the Encounter of a Task that was updated directly into the state the Task is in."""
        ref = (task.get("encounter") or {}).get("reference")
        if not (isinstance(ref, str) and ref.startswith("Encounter/")):
            return
        current = self.repo.read(conn, "Encounter", ref.split("/", 1)[1])
        if current is None or current.deleted or encounter_matches(current.json(), state):
            return
        performer = owner_of(task) if state == State.IN_PROGRESS else None
        self._mark(conn, self.repo.update(conn, current, put_encounter_in(current.json(), state, self.clock(),
                                                                           performer)))

    def _encounter_written(self, conn: Connection, change: Change) -> None:
        """Refuse an Encounter status that disagrees with its case Task: the Task leads."""
        before = previous_version(conn, change)
        after = change.json()
        if before is None or before.get("status") == after.get("status"):
            return
        for task_id in self.server.matcher.ids(conn, "Task", [("encounter", f"Encounter/{change.res_id}")]):
            task = self.repo.read(conn, "Task", task_id)
            content = task.json() if task is not None and not task.deleted else {}
            if not is_case_task(content):
                continue
            try:
                state = state_of(content)
            except NotACase:
                continue
            if not encounter_matches(after, state):
                raise Conflict(f"cannot update: the Encounter's status follows its case, which is "
                               f"{state}; take the step on Task/{task_id} instead", ("Encounter.status",),
                               issue_code="business-rule")


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
