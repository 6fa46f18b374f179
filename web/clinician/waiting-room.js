// The unit's waiting room: the listing from Organization/{id}/$waiting-room (most urgent first,
// then answer-by, then arrival, as the hub orders it), kept current by the unit's live socket
// (/live/waiting-rooms/{id}), which only says that something changed; the listing is re-read.
// Claiming is Task/{id}/$claim; of two clinicians who claim at once one wins, the other is told.
// The complaint is named by the hub (the entry's waiting-complaint Coding: Swedish display, the
// English as a FHIR translation), so the room shows words, not the triage's codes.
// https://hl7.org/fhir/R4/task.html, https://hl7.org/fhir/R4/extension-translation.html

import { FHIR_BASE, HubError, displayName, refId, socketUrl } from "/web/static/api.js";

const $ = (id) => document.getElementById(id);
const EXT = "https://ingang.example/fhir/StructureDefinition/";
const URGENCY = ["stat", "asap", "urgent", "routine"];
const RETRY_MS = [1000, 2000, 5000, 10000];
const TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation";

function ext(entry, name) {
  return (entry.extension || []).find((e) => e.url === `${EXT}${name}`);
}

/** Return a Coding's name in `lang`: its translation into that language, else its display, else its code. */
export function codingText(coding, lang) {
  if (!coding) return "";
  for (const translation of ((coding._display || {}).extension || []).filter((e) => e.url === TRANSLATION)) {
    const parts = Object.fromEntries((translation.extension || []).map((p) => [p.url, p.valueCode ?? p.valueString]));
    if (parts.content && String(parts.lang || "").split("-")[0] === lang) return parts.content;
  }
  return coding.display || coding.code || "";
}

export class WaitingRoom {
  constructor(app) {
    this.app = app;
    this.unitId = null;
    this.rows = [];
    this.ws = null;
    this.stopped = true;
    this.attempt = 0;
    this.reloadTimer = null;
  }

  t(key, vars) { return this.app.t(key, vars); }

  async start(unitId) {
    this.unitId = unitId;
    this.stopped = false;
    await this.reload();
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close(1000, "done");
    this.ws = null;
  }

  async connect() {
    if (this.stopped) return;
    const token = await this.app.session.freshToken();
    if (!token) return;
    const ws = new WebSocket(socketUrl(`/live/waiting-rooms/${encodeURIComponent(this.unitId)}?access_token=${encodeURIComponent(token)}`));
    this.ws = ws;
    ws.addEventListener("open", () => { this.attempt = 0; $("room-live").textContent = this.t("room.live"); });
    ws.addEventListener("message", (event) => {
      let frame = {};
      try { frame = JSON.parse(event.data); } catch { return; }
      if (frame.type !== "hello" && frame.type !== "pong") this.soon();
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      $("room-live").textContent = this.t("room.offline");
      if (this.stopped || event.code === 4403) return;
      const delay = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
      this.attempt += 1;
      // Whatever changed while the socket was down is in the listing read after reconnecting.
      setTimeout(() => { this.connect(); this.soon(); }, delay);
    });
  }

  /** Re-read the listing shortly: a burst of changes costs one read. */
  soon() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.reload().catch((err) => this.app.fail(err)), 250);
  }

  async reload() {
    const bundle = await this.app.api.get(`${FHIR_BASE}/Organization/${encodeURIComponent(this.unitId)}/$waiting-room?_count=100`);
    const included = new Map();
    for (const entry of bundle.entry || []) {
      if (entry.search && entry.search.mode === "include") included.set(`${entry.resource.resourceType}/${entry.resource.id}`, entry.resource);
    }
    this.rows = (bundle.entry || []).filter((e) => e.resource.resourceType === "Task" && (!e.search || e.search.mode === "match"))
      .map((entry) => {
        const task = entry.resource;
        const encounter = included.get(`Encounter/${refId(task.encounter)}`) || {};
        const patient = included.get(`Patient/${refId(task.for)}`) || {};
        const waited = ext(entry, "waiting-time");
        // A hub without the named complaint still has the Encounter's own coding to fall back on.
        const named = ext(entry, "waiting-complaint");
        const complaint = named ? named.valueCoding : (((encounter.reasonCode || [])[0] || {}).coding || [])[0];
        return { task, patient, complaint, waited: waited ? waited.valueDuration.value : null,
                 byGuardian: Boolean(ext(entry, "waiting-person")) };
      });
    this.render();
  }

  render() {
    const body = $("room-rows");
    if (!body) return;
    body.replaceChildren();
    $("room-empty").hidden = this.rows.length > 0;
    $("room-table").hidden = this.rows.length === 0;
    for (const row of this.rows) body.append(this.rowFor(row));
  }

  rowFor({ task, patient, complaint, waited, byGuardian }) {
    const tr = document.createElement("tr");
    tr.dataset.task = task.id;
    if (this.app.caseView.taskId === task.id) tr.classList.add("selected");
    const urgency = document.createElement("td");
    const priority = URGENCY.includes(task.priority) ? task.priority : "routine";
    urgency.className = `urgency urgency-${priority}`;
    urgency.textContent = this.t(`priority.${priority}`);
    const who = document.createElement("td");
    who.textContent = [displayName(patient) || this.t("case.unknownPatient"), patient.birthDate ? `(${patient.birthDate})` : ""]
      .filter(Boolean).join(" ") + (byGuardian ? ` – ${this.t("room.byGuardian")}` : "");
    const reason = document.createElement("td");
    reason.textContent = codingText(complaint, this.app.strings.lang) || "–";
    if (complaint && complaint.code) reason.dataset.code = complaint.code;
    const minutes = document.createElement("td");
    minutes.className = "number";
    minutes.textContent = waited === null ? "–" : this.t("room.minutes", { minutes: Math.round(waited) });
    const action = document.createElement("td");
    const claim = document.createElement("button");
    claim.type = "button";
    claim.className = "secondary";
    claim.textContent = this.t("room.claim");
    claim.setAttribute("aria-label", this.t("room.claimFor", { name: displayName(patient) || task.id }));
    claim.addEventListener("click", () => this.claim(task.id, claim));
    action.append(claim);
    tr.append(urgency, who, reason, minutes, action);
    return tr;
  }

  /** Claim the case; a colleague's earlier claim is a 409 (or 412), said plainly. */
  async claim(taskId, button) {
    this.app.clearError();
    button.disabled = true;
    try {
      const task = await this.app.api.operation("Task", taskId, "claim");
      this.app.announce(this.t("room.claimed"));
      await this.app.caseView.open(task.id);
    } catch (err) {
      if (err instanceof HubError && (err.status === 409 || err.status === 412)) {
        this.app.fail(new Error(this.t("room.taken")));
      } else {
        this.app.fail(err);
      }
    } finally {
      button.disabled = false;
      this.reload().catch(() => {});
    }
  }
}
