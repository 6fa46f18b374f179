"""Two hubs in one test: A sends cases, B (guarded, with A registered as a backend service) receives them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey
from starlette.testclient import TestClient

from cases.principals import HSA_SYSTEM
from hub.app import Hub, build_hub, create_app
from hub.outbox import Outbox, RetryPolicy
from hub.settings import Settings
from hub.transfer_peer import PeerClient, load_peer_hubs
from hub.transfer_wiring import KIND, HubTransfers
from tests.conftest import hub_settings

B_HOST = "http://hub-b.test"
TARGET_HSA = "SE2321000000-VC02"  # a unit of the demo region syd
A_BASE = "https://hub-a.test/fhir"


@dataclass
class TwoHubs:
    """Hub A (its store, its outbox delivering transfers) and hub B (its HTTP app and store)."""

    a: Hub
    outbox: Outbox
    transfers: HubTransfers
    b_client: TestClient
    b: Hub
    target_unit: str

    def b_ids(self, res_type: str, *params: tuple[str, str]) -> list[str]:
        with self.b.fhir.unit_of_work(False) as conn:
            return self.b.fhir.matcher.ids(conn, res_type, list(params))

    def b_read(self, ref: str) -> dict[str, Any]:
        with self.b.fhir.unit_of_work(False) as conn:
            stored = self.b.fhir.repo.read(conn, *ref.split("/"))
        assert stored is not None, ref
        return stored.json()


def write_configs(folder: Path) -> tuple[Path, Path, Path]:
    """Write A's key and peer file, and B's clients and peer files; return (a_peers, b_clients, b_peers)."""
    key = ECKey.generate_key("P-384", private=True, parameters={"kid": "hub-a-2026"})
    (folder / "a-key.json").write_text(json.dumps(key.as_dict(private=True)))
    a_peers = folder / "a-peers.json"
    a_peers.write_text(json.dumps({"peers": {"syd": {
        "fhir_base": f"{B_HOST}/fhir", "token_url": f"{B_HOST}/auth/token", "client_id": "hub-a",
        "key_file": str(folder / "a-key.json")}}}))
    b_clients = folder / "b-clients.json"
    b_clients.write_text(json.dumps({"clients": [{
        "client_id": "hub-a", "name": "Ingång Region Norr", "auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"], "jwks": {"keys": [key.as_dict(private=False)]},
        "region": "syd", "scope": "system/Organization.rs system/Task.c"}]}))
    b_peers = folder / "b-peers.json"
    b_peers.write_text(json.dumps({"accept_from": ["hub-a"]}))
    return a_peers, b_clients, b_peers


def two_hubs(database_url: str, sqlite_template: Path, folder: Path) -> Iterator[TwoHubs]:
    """Build A over `database_url` and B over a SQLite file of its own."""
    a_peers, b_clients, b_peers = write_configs(folder)
    a = build_hub(hub_settings(database_url, outbox_dispatcher="off", base_url=A_BASE, peer_hubs_file=str(a_peers)))
    shutil.copy(sqlite_template, folder / "b.db")
    b_settings = Settings(database_url=f"sqlite:///{folder / 'b.db'}", demo_data=False, auto_migrate=False,
                          access_control=True, outbox_dispatcher="off", base_url=f"{B_HOST}/fhir",
                          clients_file=str(b_clients), peer_hubs_file=str(b_peers))
    app = create_app(b_settings)
    with TestClient(app, base_url=B_HOST) as client:
        b: Hub = app.state.hub
        with b.fhir.unit_of_work(True) as conn:
            unit = b.fhir.repo.create(conn, {"resourceType": "Organization", "name": "Vårdcentralen Söderhamnen",
                                             "identifier": [{"system": HSA_SYSTEM, "value": TARGET_HSA}]}).res_id
        peers = load_peer_hubs(str(a_peers))
        transfers = HubTransfers(a.fhir, peers, sender_base=A_BASE, sender_name="Region Norr")
        transfers.clients["syd"] = PeerClient(peers.peers["syd"], http=client)
        outbox = Outbox(a.engine, RetryPolicy(backoff_base=0.0))
        outbox.register(KIND, transfers.handle)  # A's own operation enqueues; this outbox delivers
        yield TwoHubs(a, outbox, transfers, client, b, unit)
    a.engine.dispose()
