// The case's conversation, for the clinician: chat and video side by side over the encounter's
// live socket (shared live.js, chat.js and video.js). The clinician is the impolite side of the video
// negotiation, and may end the chat or open it again.
// https://hl7.org/fhir/R4/communication.html , https://www.w3.org/TR/webrtc/

import { appendChatMessage, sendChatText } from "/web/static/chat.js";
import { EncounterSocket } from "/web/static/live.js";
import { VideoCall } from "/web/static/video.js";

const $ = (id) => document.getElementById(id);
const SIGNALS = new Set(["offer", "answer", "ice-candidate", "hang-up"]);

export class Conversation {
  constructor(app, { onCaseChanged }) {
    this.app = app;
    this.onCaseChanged = onCaseChanged;
    this.socket = null;
    this.call = null;
    this.me = "";
    this.chat = { open: false };
    this.messages = new Map();
    $("chat-form").addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    $("chat-toggle").addEventListener("click", () => this.toggleChat());
    $("video-join").addEventListener("click", () => this.joinVideo());
    $("video-leave").addEventListener("click", () => this.call && this.call.hangUp(true));
  }

  t(key, vars) { return this.app.t(key, vars); }

  open(encounterId) {
    this.stop();
    $("chat-log").replaceChildren();
    this.messages.clear();
    this.socket = new EncounterSocket(encounterId, {
      getToken: () => this.app.session.freshToken(),
      onFrame: (frame) => this.onFrame(frame),
      onState: (state, reason) => {
        if (state === "retrying") $("chat-state").textContent = this.t("chat.offline");
        if (state === "closed" && reason) $("chat-state").textContent = reason;
      },
    });
    this.socket.connect();
  }

  stop() {
    if (this.call) this.call.hangUp(true);
    this.call = null;
    if (this.socket) this.socket.close();
    this.socket = null;
    this.videoState("idle");
  }

  onFrame(frame) {
    if (frame.type === "hello") {
      this.me = frame.me;
      this.chat = frame.chat || this.chat;
      this.iceServers = frame.iceServers || [];
      this.renderChat();
    } else if (frame.type === "message") {
      this.show(frame.id, frame.resource);
    } else if (frame.type === "chat-opened" || frame.type === "chat-ended") {
      this.chat = { open: frame.type === "chat-opened" };
      this.renderChat();
    } else if (frame.type === "task" || frame.type === "encounter") {
      this.onCaseChanged();
    } else if (SIGNALS.has(frame.type)) {
      this.ensureCall().signal(frame).catch((err) => this.app.fail(err));
    }
  }

  renderChat() {
    $("chat-state").textContent = this.chat.open ? "" : this.t("chat.closed");
    $("chat-text").disabled = !this.chat.open;
    $("chat-toggle").textContent = this.t(this.chat.open ? "chat.end" : "chat.open");
  }

  show(id, resource) {
    const shown = appendChatMessage($("chat-log"), this.messages, id, resource, {
      me: this.me, lang: this.app.strings.lang, label: (mine) => this.t(mine ? "chat.me" : "chat.patient") });
    if (shown && !shown.mine && this.socket) this.socket.send({ type: "read", id }).catch(() => {});
  }

  async send() {
    await sendChatText(this.socket, $("chat-text"), (err) => this.app.fail(err));
  }

  async toggleChat() {
    if (!this.socket) return;
    try {
      await this.socket.send({ type: this.chat.open ? "end-chat" : "open-chat" });
    } catch (err) {
      this.app.fail(err);
    }
  }

  ensureCall() {
    if (!this.call) {
      this.call = new VideoCall({
        send: (frame) => this.socket.send(frame), polite: false, iceServers: this.iceServers || [],
        localVideo: $("video-local"), remoteVideo: $("video-remote"), onState: (state) => this.videoState(state),
      });
    }
    return this.call;
  }

  videoState(state) {
    const words = { calling: "video.calling", incoming: "video.incoming", connected: "video.connected", ended: "video.ended" };
    const el = $("video-state");
    el.textContent = words[state] ? this.t(words[state]) : "";
    el.dataset.state = state;
    const active = state === "calling" || state === "connected";
    $("video-join").hidden = active;
    $("video-leave").hidden = !active;
  }

  async joinVideo() {
    try {
      await this.ensureCall().join();
    } catch (err) {
      $("video-state").textContent = this.t("video.denied", { reason: err.message });
    }
  }
}
