"""Let a citizen (or the clinician who has the case) attach photos to a case, by three doors.

`POST /api/encounters/{id}/photos` (multipart, field `file`) is for front ends; `POST
/fhir/Binary` with the image as the body (and `X-Security-Context: Encounter/<id>`) or as a
Binary resource, and `POST /fhir/Media` with inline `content.data`, are for FHIR clients
(the HTTP side is hub/photo_routes.py). All three authenticate as the FHIR API does, check
who may attach to which case, clean the image (communication/photos.py) before the database
is touched, and write the photo's Binary, its thumbnail's Binary and the Media in one unit of
work, each create decided and audited by the FHIR server's guard.
https://hl7.org/fhir/R4/binary.html#rest, https://hl7.org/fhir/R4/media.html
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Connection, select

from cases.lifecycle import TERMINAL_STATES, NotACase, State, is_case_task, owner_of, state_of
from cases.principals import HSA_SYSTEM, Clinician, RegionalSystem
from communication.image_resources import photo_binary, photo_media
from communication.photos import CleanPhoto, PhotoLimits, PhotoRefused, clean_photo
from fhir_api.http import FhirEndpoint
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import (
    BadRequest,
    Conflict,
    FhirError,
    Forbidden,
    Issue,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from fhir_api.server import FhirServer
from fhir_api.store.schema import resources
from hub.settings import Settings

CLOSED_ENCOUNTER = frozenset({"finished", "cancelled", "entered-in-error"})
REFUSAL_STATUS: dict[str, type[FhirError]] = {
    "empty": Unprocessable, "corrupt": Unprocessable, "too-large": PayloadTooLarge,
    "too-many-pixels": PayloadTooLarge, "unsupported": UnsupportedMediaType, "polyglot": UnsupportedMediaType,
}


@dataclass(frozen=True)
class WordedIssue(Issue):
    """An issue that also says what happened in Swedish, for the person in front of the screen."""

    text: str = ""

    def as_json(self) -> dict[str, Any]:
        """Render with `details.text` (Swedish) beside the English `diagnostics`."""
        out = super().as_json()
        out["details"] = {"text": self.text}
        return out


def worded(kind: type[FhirError], text_sv: str, diagnostics: str, expression: tuple[str, ...] = (),
           headers: dict[str, str] | None = None) -> FhirError:
    """Return an error of `kind` whose OperationOutcome speaks Swedish to people and English to logs."""
    issue = WordedIssue(kind.code, diagnostics, expression=expression, text=text_sv)
    return kind(diagnostics, expression, issues=[issue], headers=headers)


def refusal(exc: PhotoRefused) -> FhirError:
    """Turn a refused photo into the FHIR error with the status that fits why."""
    return worded(REFUSAL_STATUS.get(exc.reason, Unprocessable), exc.text_sv, exc.diagnostics, ("file",))


def may_attach(conn: Connection, server: FhirServer, caller: Any, encounter: str) -> dict[str, Any]:
    """Return the case's Encounter if the caller may attach a photo to it now; raise why not otherwise.

    The patient, their guardian and the clinician who has taken the case may; the case must be
    open. A case the caller cannot see is 404, worded as a missing one.
    """
    ref = f"Encounter/{encounter}"
    principal = getattr(caller, "principal", caller)
    guard = server.guard
    if guard is not None:
        if caller is None:
            raise worded(Unauthorized, "Logga in för att skicka bilder.", "Log in to attach photos",
                         headers={"WWW-Authenticate": 'Bearer realm="ingang"'})
        visible = getattr(guard, "visible", None)
        if visible is None or not visible(conn, FhirRequest(method="GET", path=ref, caller=caller), "Encounter",
                                          encounter):
            raise NotFound(f"{ref} is not known", (ref,))
    stored = server.repo.read(conn, "Encounter", encounter)
    if stored is None or stored.deleted:
        raise NotFound(f"{ref} is not known", (ref,))
    found = stored.json()
    task = _case_task(conn, server, ref)
    state = _state(task)
    if found.get("status") in CLOSED_ENCOUNTER or state in TERMINAL_STATES:
        raise worded(Conflict, "Ärendet är avslutat och kan inte ta emot fler bilder.",
                     f"{ref} is closed ({found.get('status')}); photos can no longer be attached", (ref,))
    if isinstance(principal, Clinician):
        if state is not State.IN_PROGRESS or task is None:
            raise worded(Conflict, "Ta ärendet innan du skickar bilder i det.",
                         f"Only the clinician who has taken the case may attach photos; {ref} is not taken", (ref,))
        if not _is_claimant(conn, server, principal, task):
            raise worded(Forbidden, "Ärendet hanteras av en annan behandlare.",
                         "Another clinician has taken this case; only they may attach photos", (ref,))
    elif isinstance(principal, RegionalSystem):
        raise worded(Forbidden, "Bilder skickas av patienten eller behandlaren i ärendet.",
                     "Photos are attached by the patient, their guardian or the clinician who has the case")
    return found


def _case_task(conn: Connection, server: FhirServer, encounter_ref: str) -> dict[str, Any] | None:
    tasks = []
    for task_id in server.matcher.ids(conn, "Task", [("encounter", encounter_ref)]):
        stored = server.repo.read(conn, "Task", task_id)
        if stored is not None and not stored.deleted:
            tasks.append(stored.json())
    return next((t for t in tasks if is_case_task(t)), tasks[0] if tasks else None)


def _state(task: dict[str, Any] | None) -> State | None:
    try:
        return state_of(task) if task is not None else None
    except NotACase:
        return None


def _is_claimant(conn: Connection, server: FhirServer, clinician: Clinician, task: dict[str, Any]) -> bool:
    """Tell whether the Task's owner is one of this clinician's PractitionerRoles."""
    owner = owner_of(task) or ""
    if not owner.startswith("PractitionerRole/"):
        return False
    role = server.repo.read(conn, "PractitionerRole", owner.split("/", 1)[1])
    if role is None or role.deleted:
        return False
    body = role.json()
    if clinician.commission.commission_hsa_id in _hsa_ids(body):
        return True
    practitioner = str((body.get("practitioner") or {}).get("reference") or "")
    if not practitioner.startswith("Practitioner/"):
        return False
    person = server.repo.read(conn, "Practitioner", practitioner.split("/", 1)[1])
    return person is not None and clinician.employee_hsa_id in _hsa_ids(person.json())


def _hsa_ids(resource: dict[str, Any]) -> set[str]:
    return {str(i.get("value")) for i in resource.get("identifier") or [] if i.get("system") == HSA_SYSTEM}


@dataclass(frozen=True)
class PhotoRequest:
    """One attach request, whichever door it came through."""

    caller: Any
    encounter: str  # the Encounter's id
    data: bytes
    base_url: str
    answer: str = "Media"  # which resource the response carries: Media, or Binary for POST /fhir/Binary
    prefer: str | None = None
    sent_media: dict[str, Any] | None = None


class PhotoAttachments:
    """Check, clean and store photos for cases, through the FHIR server and its guard."""

    def __init__(self, server: FhirServer, limits: PhotoLimits, clock: Callable[[], datetime] | None = None) -> None:
        self.server, self.limits = server, limits
        self.clock = clock or (lambda: datetime.now(UTC))

    def authenticate(self, headers: Mapping[str, str]) -> Any:
        """Return the caller the request's bearer token names, exactly as the FHIR API would."""
        if self.server.guard is None:
            return None
        return self.server.guard.authenticate(FhirRequest(method="POST", path="Media", headers=headers))

    def attach(self, req: PhotoRequest) -> FhirResponse:
        """Store a photo for a case and return the Media (or the Binary), or raise a FhirError."""
        with self.server.unit_of_work(False) as conn:  # refuse early: no decoding for whoever may not attach
            may_attach(conn, self.server, req.caller, req.encounter)
        try:
            photo = clean_photo(req.data, self.limits)
        except PhotoRefused as exc:
            raise refusal(exc) from None
        with self.server.unit_of_work(True) as conn:
            # Hold the Encounter's row, so a close committing meanwhile is seen (409), never missed.
            conn.execute(select(resources.c.rid).where(resources.c.res_type == "Encounter",
                                                       resources.c.res_id == req.encounter).with_for_update())
            encounter = may_attach(conn, self.server, req.caller, req.encounter)
            return self._store(conn, req, photo, encounter)

    def _store(self, conn: Connection, req: PhotoRequest, photo: CleanPhoto, encounter: dict[str, Any]) -> FhirResponse:
        encounter_ref = f"Encounter/{req.encounter}"
        subject = (encounter.get("subject") or {}).get("reference")
        if not isinstance(subject, str):
            raise worded(Conflict, "Ärendet saknar patient, så bilden kan inte sparas.",
                         f"{encounter_ref} has no subject to attach the photo to")
        sent = req.sent_media or {}
        if sent.get("subject") not in (None, {"reference": subject}):
            raise BadRequest(f"Media.subject must be the case's patient, {subject}", ("Media.subject",))
        wants_binary = req.answer == "Binary"
        photo_resp = self._create(conn, req, photo_binary(photo.photo, encounter_ref), wants_binary)
        thumb_resp = self._create(conn, req, photo_binary(photo.thumbnail, encounter_ref), False)
        media = photo_media(photo, _created_ref(photo_resp), _created_ref(thumb_resp), encounter_ref, subject,
                            self.clock(), sent)
        media_resp = self._create(conn, req, media, not wants_binary)
        if wants_binary:
            photo_resp.headers["X-Media"] = _created_ref(media_resp)
            return photo_resp
        return media_resp

    def _create(self, conn: Connection, req: PhotoRequest, resource: dict[str, Any], answer: bool) -> FhirResponse:
        prefer = f"return={req.prefer}" if answer and req.prefer else ("return=representation" if answer
                                                                         else "return=minimal")
        create = FhirRequest(method="POST", path=resource["resourceType"], body=resource, base_url=req.base_url,
                             headers={"prefer": prefer}, caller=req.caller)
        return self.server.dispatch(conn, create)


def _created_ref(resp: FhirResponse) -> str:
    """Return `Type/id` from a create's Location (`{base}/Type/id/_history/1`)."""
    location = resp.headers.get("Location", "").split("/_history/")[0]
    return "/".join(location.rsplit("/", 2)[-2:])


def register_photos(app: FastAPI, server: FhirServer, settings: Settings) -> None:
    """Mount the photo doors; call before the FHIR catch-all route so these are matched first."""
    from hub.photo_routes import mount_photo_routes

    limits = PhotoLimits(max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels,
                         thumbnail_px=settings.photo_thumbnail_px)
    fhir = FhirEndpoint(server, mount="/fhir", base_url=settings.base_url, max_body_bytes=settings.max_body_bytes)
    mount_photo_routes(app, PhotoAttachments(server, limits), fhir, limits)
