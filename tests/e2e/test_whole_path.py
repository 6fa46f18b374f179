"""The whole path of a case through a running hub, as a citizen's and a clinician's apps walk it.

One hub process (uvicorn, access control on, demo data, the dev login) on SQLite, then on
PostgreSQL. Both people log in through the hub's SMART authorization endpoint and the dev IdP
and use only HTTP and WebSockets: the citizen triages until the case is in a waiting room, the
clinician finds it there and claims it, they chat both ways and exchange a video call's offer,
answer and ICE candidates over the encounter's WebSocket, the citizen attaches a photo, the
clinician closes the case, and the citizen sees it closed and can no longer write or send photos.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from adapters.idp.tokens import principal_to_claim
from cases.principals import HSA_SYSTEM, Citizen, Clinician, Commission
from tests.conftest import BACKENDS
from tests.fixtures.images import generate
from tests.processes import (
    assert_no_tracebacks,
    authorization_code_token,
    backend_database,
    free_port,
    hub_env,
    start_hub,
    stop_process,
)
from triage.evaluation import Vignette, answer_questions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CALLBACK = "http://127.0.0.1/e2e/callback"
CLIENTS = [
    {"client_id": "e2e-citizen-app", "redirect_uris": [CALLBACK], "login": "citizen",
     "scope": "openid fhirUser launch/patient patient/*.cruds"},
    {"client_id": "e2e-workspace", "redirect_uris": [CALLBACK], "login": "clinician",
     "scope": "openid fhirUser user/*.cruds"},
]
ANDERS = Citizen("198112189876", "Anders", "Testsson")
# Ear pain with discharge for four days: a doctor within the week, so a waiting room at any hour.
EAR_PAIN = Vignette("whole-path", 44, "male", "complaint-ear-pain",
                    {"ear-pain": True, "ear-discharge": True, "itchy-skin": False, "symptom-duration-days": 4},
                    "non-urgent", "4-level")
FRAME_LIMIT = 200  # frames read while waiting for one, so a missing frame fails instead of hanging
SOCKET_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class GuardedHub:
    """A hub process with access control on: where it listens."""

    base_url: str

    @property
    def fhir(self) -> str:
        return f"{self.base_url}/fhir"


@pytest.fixture(params=BACKENDS)
def guarded_hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GuardedHub]:
    """Start `uvicorn hub.app:create_app --factory` with access control, demo data and two login clients."""
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps({"clients": CLIENTS}))
    with backend_database(request.param, tmp_path / "hub.db", "ingang_path") as database_url:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = hub_env(database_url, INGANG_ACCESS_CONTROL="true",
                      INGANG_DEMO_DATA="true", INGANG_AUTO_MIGRATE="true", INGANG_CLIENTS_FILE=str(clients),
                      INGANG_BASE_URL=f"{base_url}/fhir", INGANG_OUTBOX_DISPATCHER="off")
        log = tmp_path / "hub.log"
        proc = start_hub(env, port, log)
        try:
            yield GuardedHub(base_url)
        finally:
            stop_process(proc)
        assert_no_tracebacks(log)


def log_in(hub: GuardedHub, client_id: str, principal: Any, scope: str) -> str:
    """Log in as an app does (authorize, the dev IdP, the code for a token); return the access token."""
    issued = authorization_code_token(hub.base_url, client_id, principal_to_claim(principal), scope,
                                      redirect_uri=CALLBACK, aud=hub.fhir)
    token: str = issued["access_token"]
    return token


@dataclass
class App:
    """One person's app: their token, an HTTP client, and their side of the conversation."""

    hub: GuardedHub
    token: str
    closing: ExitStack
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = self.closing.enter_context(httpx.Client(
            base_url=self.hub.fhir, timeout=30.0,
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/fhir+json"}))

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        r = self.http.get(path, params=params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(path, json=body, headers={"Content-Type": "application/fhir+json"})

    @contextmanager
    def socket(self, encounter: str) -> Iterator[Live]:
        url = self.hub.base_url.replace("http://", "ws://") + f"/live/encounters/{encounter}?access_token={self.token}"
        with connect(url, open_timeout=SOCKET_TIMEOUT_S) as ws:
            yield Live(ws)


@dataclass
class Live:
    """An open conversation socket, read frame by frame."""

    ws: ClientConnection
    seen: list[dict[str, Any]] = field(default_factory=list)

    def send(self, frame: dict[str, Any]) -> None:
        self.ws.send(json.dumps(frame))

    def expect(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Return the next frame of this type whose fields match, skipping (and keeping) others."""
        for _ in range(FRAME_LIMIT):
            frame = json.loads(self.ws.recv(timeout=SOCKET_TIMEOUT_S))
            self.seen.append(frame)
            if frame.get("type") == kind and all(frame.get(k) == v for k, v in fields.items()):
                return dict(frame)
            assert frame.get("type") != "error", frame
        raise AssertionError(f"no {kind} frame with {fields} among {self.seen[-10:]}")


@pytest.fixture
def closing() -> Iterator[ExitStack]:
    """Close the apps' HTTP clients when the test ends."""
    with ExitStack() as stack:
        yield stack


def entries(bundle: dict[str, Any], res_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == res_type]


def triage_to_waiting_room(citizen: App, patient: str) -> str:
    """Answer `$next-question` until the response is complete; return the case's Encounter id."""
    response: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "status": "in-progress",
                                "subject": {"reference": patient}}
    for _ in range(60):
        r = citizen.post("Questionnaire/$next-question", response)
        assert r.status_code == 200, r.text
        response = r.json()
        if response["status"] == "completed":
            return str(response["encounter"]["reference"]).split("/")[1]
        response, _ = answer_questions(response, EAR_PAIN)
    raise AssertionError("the triage did not complete")


def clinician_at(citizen: App, unit_ref: str) -> Clinician:
    """Return a doctor whose commission is at the unit the case was routed to (read from the directory)."""
    unit = citizen.get(unit_ref)
    region = citizen.get(unit["partOf"]["reference"])
    unit_hsa = next(i["value"] for i in unit["identifier"] if i["system"] == HSA_SYSTEM)
    region_hsa = next(i["value"] for i in region["identifier"] if i["system"] == HSA_SYSTEM)
    return Clinician("SE2321000000-P001", Commission(f"SE2321000000-P001-{unit_hsa[-4:].lower()}", unit_hsa,
                                                     region_hsa, care_unit_name=unit["name"]),
                     given_name="Anna", family_name="Lind", profession="Läkare")


def test_whole_path__triage_waiting_room_claim_chat_video_photo_close(guarded_hub: GuardedHub,
                                                                      closing: ExitStack) -> None:
    # The citizen logs in and triages until the case waits in a unit's waiting room.
    citizen = App(guarded_hub, log_in(guarded_hub, "e2e-citizen-app", ANDERS,
                                      "openid fhirUser launch/patient patient/*.cruds"), closing)
    patient = f"Patient/{entries(citizen.get('Patient'), 'Patient')[0]['id']}"
    encounter = triage_to_waiting_room(citizen, patient)
    task = entries(citizen.get("Task", encounter=f"Encounter/{encounter}"), "Task")[0]
    assert (task["status"], task["businessStatus"]["coding"][0]["code"]) == ("ready", "waiting")
    unit_ref = task["owner"]["reference"]
    assert citizen.get(f"Encounter/{encounter}")["status"] == "arrived"

    # A clinician of that unit logs in, sees the case in the waiting room and claims it.
    clinician = App(guarded_hub, log_in(guarded_hub, "e2e-workspace", clinician_at(citizen, unit_ref),
                                        "openid fhirUser user/*.cruds"), closing)
    room = clinician.post(f"{unit_ref}/$waiting-room", {"resourceType": "Parameters"})
    assert room.status_code == 200, room.text
    assert task["id"] in {t["id"] for t in entries(room.json(), "Task")}
    claimed = clinician.post(f"Task/{task['id']}/$claim", {"resourceType": "Parameters"})
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["status"] == "in-progress"

    # Both open the encounter's conversation and chat both ways, with a read receipt.
    with clinician.socket(encounter) as doctor_live, citizen.socket(encounter) as citizen_live:
        for live, role in ((doctor_live, "clinician"), (citizen_live, "citizen")):
            assert live.expect("hello")["role"] == role
            live.expect("replayed")
        doctor_live.send({"type": "send", "ref": "d1", "text": "Hej Anders, hur länge har örat värkt?"})
        sent = doctor_live.expect("ack", ref="d1")
        heard = citizen_live.expect("message", id=sent["id"])
        assert heard["resource"]["payload"][0]["contentString"] == "Hej Anders, hur länge har örat värkt?"
        citizen_live.send({"type": "read", "ref": "r1", "id": sent["id"]})
        citizen_live.expect("ack", ref="r1")
        doctor_live.expect("receipt", id=sent["id"])
        citizen_live.send({"type": "send", "ref": "c1", "text": "I fyra dagar, och det rinner."})
        reply = citizen_live.expect("ack", ref="c1")
        assert doctor_live.expect("message", id=reply["id"])["resource"]["sender"]["reference"] == patient

        # They switch to video: offer, answer and ICE candidates go across, and back to chat.
        doctor_live.send({"type": "offer", "ref": "v1", "call": "call-1", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"})
        assert citizen_live.expect("offer", call="call-1")["from"] == "clinician"
        citizen_live.send({"type": "answer", "ref": "v2", "call": "call-1", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n"})
        assert doctor_live.expect("answer", call="call-1")["sdp"].startswith("v=0")
        candidate = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host", "sdpMid": "0",
                     "sdpMLineIndex": 0}
        doctor_live.send({"type": "ice-candidate", "ref": "v3", "call": "call-1", "candidate": candidate})
        assert citizen_live.expect("ice-candidate", call="call-1")["candidate"] == candidate
        citizen_live.send({"type": "ice-candidate", "ref": "v4", "call": "call-1", "candidate": candidate})
        doctor_live.expect("ice-candidate", call="call-1")
        doctor_live.send({"type": "hang-up", "ref": "v5", "call": "call-1"})
        citizen_live.expect("hang-up", call="call-1")
        assert clinician.get(f"Task/{task['id']}")["status"] == "in-progress"  # video left the case as it was

        # The citizen attaches a photo from the phone; the clinician sees it without its metadata.
        photo = httpx.post(f"{guarded_hub.base_url}/api/encounters/{encounter}/photos",
                           headers={"Authorization": f"Bearer {citizen.token}"}, timeout=30.0,
                           files={"file": ("IMG_0001.jpg", generate.jpeg_with_gps(), "image/jpeg")})
        assert photo.status_code == 201, photo.text
        media = entries(clinician.get("Media", encounter=f"Encounter/{encounter}"), "Media")
        assert [m["id"] for m in media] == [photo.json()["id"]]
        binary = clinician.get(media[0]["content"]["url"])
        assert generate.CAMERA_MAKE.encode() not in base64.b64decode(binary["data"])

        # The clinician closes the case; the citizen sees it closed, live and over REST.
        closed = clinician.post(f"Task/{task['id']}/$close", {"resourceType": "Parameters", "parameter": [
            {"name": "outcome", "valueCode": "advice-given"},
            {"name": "note", "valueString": "Extern otit. Råd om örondroppar givna."}]})
        assert closed.status_code == 200, closed.text
        citizen_live.expect("task", id=task["id"], status="completed")
        mine = citizen.get(f"Task/{task['id']}")
        assert (mine["status"], mine["businessStatus"]["coding"][0]["code"]) == ("completed", "closed")
        assert citizen.get(f"Encounter/{encounter}")["status"] == "finished"

        # … and can no longer write into the conversation or attach photos.
        citizen_live.send({"type": "send", "ref": "c2", "text": "En sak till!"})
        refused = json.loads(citizen_live.ws.recv(timeout=SOCKET_TIMEOUT_S))
        while refused.get("type") not in ("error", "ack"):
            refused = json.loads(citizen_live.ws.recv(timeout=SOCKET_TIMEOUT_S))
        assert refused["type"] == "error" and refused["status"] == 409, refused
        late = httpx.post(f"{guarded_hub.base_url}/api/encounters/{encounter}/photos",
                          headers={"Authorization": f"Bearer {citizen.token}"}, timeout=30.0,
                          files={"file": ("IMG_0002.jpg", generate.plain_jpeg(), "image/jpeg")})
        assert late.status_code == 409, late.text
