// The citizen's case: place in the waiting room and estimated wait, chat and video with the
// clinician, photos, follow-up answers, bookings, and withdrawing. Every part is the public API:
// Task/$queue-position and $withdraw, /api/encounters/{id}/photos, /live/encounters/{id}.
// The socket says only that something changed (a case step, a booking made or moved for this
// encounter); what changed is re-read over FHIR, so the page shows what the hub holds.
// https://hl7.org/fhir/R4/task.html , https://hl7.org/fhir/R4/communication.html

import { FHIR_BASE, displayName, parameter } from "/web/static/api.js";
import { appendChatMessage, sendChatText } from "/web/static/chat.js";
import { EncounterSocket } from "/web/static/live.js";
import { VideoCall } from "/web/static/video.js";

const $ = (id) => document.getElementById(id);
const WAITING = new Set(["waiting", "transferred"]);

export class CaseView {
  constructor(app) {
    this.app = app;
    this.encounterId = null;
    this.task = null;
    this.queue = null;
    this.socket = null;
    this.call = null;
    this.chat = { open: false, reason: null };
    this.me = "";
    this.messages = new Map();
    $("case-refresh").addEventListener("click", () => this.refresh().catch((err) => app.fail(err)));
    $("chat-form").addEventListener("submit", (event) => { event.preventDefault(); this.sendChat(); });
    $("photo-form").addEventListener("submit", (event) => { event.preventDefault(); this.sendPhoto(); });
    for (const id of ["photo-camera", "photo-file"]) $(id).addEventListener("change", () => this.showChosenPhotos());
    $("followup-form").addEventListener("submit", (event) => { event.preventDefault(); this.sendFollowUp(); });
    $("withdraw-open").addEventListener("click", () => { $("withdraw-form").hidden = false; $("withdraw-reason").focus(); });
    $("withdraw-cancel").addEventListener("click", () => { $("withdraw-form").hidden = true; $("withdraw-open").focus(); });
    $("withdraw-form").addEventListener("submit", (event) => { event.preventDefault(); this.withdraw(); });
    $("video-join").addEventListener("click", () => this.joinVideo());
    $("video-leave").addEventListener("click", () => this.call && this.call.hangUp(true));
  }

  t(key, vars) { return this.app.t(key, vars); }

  async open(encounterId) {
    if (this.encounterId !== encounterId) {
      this.stop();
      this.encounterId = encounterId;
      this.messages.clear();
      $("chat-log").replaceChildren();
      this.connect();
    }
    await this.refresh();
  }

  stop() {
    if (this.call) this.call.hangUp(true);
    this.call = null;
    if (this.socket) this.socket.close();
    this.socket = null;
    this.encounterId = null;
  }

  /** Re-read the case Task, its place in the queue, and the bookings. */
  async refresh() {
    const api = this.app.api;
    const tasks = await api.resources("Task", { encounter: `Encounter/${this.encounterId}` });
    this.task = tasks[0] || null;
    this.queue = this.task ? await api.get(`${FHIR_BASE}/Task/${encodeURIComponent(this.task.id)}/$queue-position`) : null;
    await this.loadBookings();
    this.render();
  }

  get state() {
    return (this.queue && parameter(this.queue, "state")) || "";
  }

  /** Draw the status, and show only what fits the case's state. */
  render() {
    if (!this.encounterId) return;
    const state = this.state;
    $("case-for").textContent = this.t("case.for", { name: displayName(this.app.patient) });
    const lines = [];
    if (WAITING.has(state)) {
      const position = parameter(this.queue, "position");
      const estimate = parameter(this.queue, "estimated-wait");
      if (position !== undefined) lines.push(position === 1 ? this.t("case.next") : this.t("case.position", { position }));
      const minutes = estimate && typeof estimate === "object" ? estimate.value : estimate;
      lines.push(minutes !== undefined ? this.t("case.estimate", { minutes: Math.round(minutes) }) : this.t("case.no-estimate"));
    } else if (state === "in-progress") {
      lines.push(this.t("case.claimed"));
    } else if (state === "booked") {
      lines.push(this.t("case.booked"));
    } else if (state === "withdrawn") {
      lines.push(this.t("case.withdrawn"));
    } else if (state) {
      lines.push(this.t("case.closed"));
      const text = parameter(this.queue, "state-text");
      if (text) lines.push(text);
    }
    const status = $("case-status");
    status.textContent = lines.join(" ");
    status.dataset.state = state;
    const open = WAITING.has(state) || state === "in-progress";
    const heading = WAITING.has(state) ? "case.heading" : state === "in-progress" ? "case.heading.claimed"
      : state === "withdrawn" ? "case.heading.withdrawn" : state === "booked" ? "case.heading.booked" : "case.heading.closed";
    $("case-heading").textContent = this.t(heading);
    $("photo-card").hidden = !open;
    $("followup-card").hidden = !open;
    $("withdraw-card").hidden = !WAITING.has(state);
    $("video-card").hidden = state !== "in-progress" && !(this.call && this.call.active);
    // The hub closes the chat with the case; the hello's state is only as of connecting.
    const chatOpen = this.chat.open && open;
    $("chat-form").hidden = !chatOpen;
    $("chat-state").textContent = chatOpen ? (WAITING.has(state) ? this.t("chat.early") : "") : this.t("chat.closed");
  }

  connect() {
    this.socket = new EncounterSocket(this.encounterId, {
      getToken: () => this.app.session.freshToken(),
      onFrame: (frame) => this.onFrame(frame),
      onState: (state) => {
        $("chat-state").textContent = state === "retrying" ? this.t("chat.offline") : $("chat-state").textContent;
      },
    });
    this.socket.connect();
  }

  onFrame(frame) {
    switch (frame.type) {
      case "hello":
        this.me = frame.me;
        this.chat = frame.chat || this.chat;
        this.iceServers = frame.iceServers || [];
        this.render();
        break;
      case "message":
        this.showMessage(frame.id, frame.resource);
        break;
      case "chat-opened":
      case "chat-ended":
        this.chat = { open: frame.type === "chat-opened", reason: null };
        this.render();
        break;
      case "task":
      case "encounter":
        this.refresh().catch((err) => this.app.fail(err));
        break;
      case "appointment":
        this.loadBookings().catch((err) => this.app.fail(err));
        break;
      case "offer":
      case "answer":
      case "ice-candidate":
      case "hang-up":
        this.ensureCall().signal(frame).catch((err) => this.app.fail(err));
        break;
      default:
        break;
    }
  }

  showMessage(id, resource) {
    const shown = appendChatMessage($("chat-log"), this.messages, id, resource, {
      me: this.me, lang: this.app.strings.lang, label: (mine) => this.t(mine ? "chat.me" : "chat.them") });
    if (shown && !shown.mine && this.socket) this.socket.send({ type: "read", id }).catch(() => {});
  }

  async sendChat() {
    await sendChatText(this.socket, $("chat-text"), (err) => this.app.fail(err));
  }

  ensureCall() {
    if (!this.call) {
      this.call = new VideoCall({
        send: (frame) => this.socket.send(frame), polite: true, iceServers: this.iceServers || [],
        localVideo: $("video-local"), remoteVideo: $("video-remote"),
        onState: (state) => this.videoState(state),
      });
    }
    return this.call;
  }

  videoState(state) {
    const words = { incoming: "video.incoming", connected: "video.connected", ended: "video.ended" };
    $("video-state").textContent = words[state] ? this.t(words[state]) : "";
    const active = state === "calling" || state === "connected";
    $("video-join").hidden = active;
    $("video-leave").hidden = !active;
    if (state === "incoming") $("video-card").hidden = false;
  }

  async joinVideo() {
    try {
      await this.ensureCall().join();
    } catch (err) {
      $("video-state").textContent = this.t("video.denied", { reason: err.message });
    }
  }

  /** The photos picked so far, from the camera and the gallery both. */
  chosenPhotos() {
    return [...$("photo-camera").files, ...$("photo-file").files];
  }

  /** Show a thumbnail of each picked photo, so a parent sees what is about to be sent. */
  showChosenPhotos() {
    const list = $("photo-chosen");
    for (const img of list.querySelectorAll("img")) URL.revokeObjectURL(img.src);
    list.replaceChildren();
    for (const file of this.chosenPhotos()) {
      const item = document.createElement("li");
      const img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = file.name;
      img.width = 96;
      img.height = 96;
      item.append(img);
      list.append(item);
    }
    list.hidden = list.children.length === 0;
    $("photo-result").textContent = "";
  }

  async sendPhoto() {
    const result = $("photo-result");
    const files = this.chosenPhotos();
    if (!files.length) {
      result.textContent = this.t("photos.none");
      return;
    }
    const url = `/api/encounters/${encodeURIComponent(this.encounterId)}/photos`;
    for (const [index, file] of files.entries()) {
      const form = new FormData();
      form.append("file", file);
      try {
        await this.app.api.request("POST", url, { body: form });
      } catch (err) {
        // Say which photo failed, in the hub's words; the ones before it have arrived.
        result.textContent = files.length === 1 ? `${this.t("error.prefix")} ${err.message}`
          : `${this.t("error.prefix")} ${this.t("photos.failed", { name: file.name, reason: err.message })}`;
        if (index > 0) result.textContent += ` ${this.t("photos.sent.many", { count: index })}`;
        return;
      }
    }
    $("photo-camera").value = "";
    $("photo-file").value = "";
    this.showChosenPhotos();
    result.textContent = files.length === 1 ? this.t("photos.sent") : this.t("photos.sent.many", { count: files.length });
  }

  /** Save the follow-up answers as a QuestionnaireResponse of the case, for the clinician to see. */
  async sendFollowUp() {
    const worse = $("followup-worse").checked;
    const text = $("followup-text").value.trim();
    const items = [{ linkId: "worse", text: this.t("followup.worse"), answer: [{ valueBoolean: worse }] }];
    if (text) items.push({ linkId: "note", text: this.t("followup.text"), answer: [{ valueString: text }] });
    try {
      await this.app.api.create({
        resourceType: "QuestionnaireResponse", status: "completed", authored: new Date().toISOString(),
        subject: { reference: `Patient/${this.app.patient.id}` }, encounter: { reference: `Encounter/${this.encounterId}` },
        item: items,
      });
      $("followup-result").textContent = this.t("followup.sent");
      $("followup-text").value = "";
      $("followup-worse").checked = false;
    } catch (err) {
      $("followup-result").textContent = `${this.t("error.prefix")} ${err.message}`;
    }
  }

  async loadBookings() {
    const appointments = await this.app.api.resources("Appointment", { patient: `Patient/${this.app.patient.id}` });
    const list = $("bookings-list");
    list.replaceChildren();
    const locale = this.app.strings.lang === "en" ? "en-GB" : "sv-SE";
    // Soonest first: the next time is the one the citizen needs to see.
    const booked = appointments.filter((a) => a.status === "booked")
      .sort((a, b) => new Date(a.start) - new Date(b.start));
    for (const appointment of booked) {
      const item = document.createElement("li");
      // The unit is in Sweden: its times are Swedish times, wherever the phone happens to be.
      const when = new Date(appointment.start).toLocaleString(locale, { dateStyle: "full", timeStyle: "short",
                                                                        timeZone: "Europe/Stockholm" });
      item.textContent = [when, appointment.description].filter(Boolean).join(" – ");
      list.append(item);
    }
    if (!list.children.length) {
      const item = document.createElement("li");
      item.textContent = this.t("bookings.none");
      list.append(item);
    }
  }

  async withdraw() {
    const reason = $("withdraw-reason").value.trim();
    const parameters = { resourceType: "Parameters", parameter: reason ? [{ name: "reason", valueString: reason }] : [] };
    try {
      await this.app.api.operation("Task", this.task.id, "withdraw", parameters);
      $("withdraw-form").hidden = true;
      await this.refresh();
      $("case-status").focus?.();
    } catch (err) {
      this.app.fail(err);
    }
  }
}

