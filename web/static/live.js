// Keep an encounter's live WebSocket open: chat messages, receipts, case changes and WebRTC
// signalling, resuming after a drop from the last `seq` seen so nothing is lost or repeated.
// The protocol is the hub's (hub/live/sockets.py): hello, replay, replayed, then live frames.
// https://www.rfc-editor.org/rfc/rfc6455

import { socketUrl } from "/web/static/api.js";

const RETRY_MS = [1000, 2000, 5000, 10000];
// Codes after which reconnecting cannot help: not a party, no such encounter, a bad request.
const FINAL_CODES = new Set([4400, 4403, 4404]);

export class EncounterSocket {
  /**
   * `getToken` returns a fresh access token (async); `onFrame(frame)` gets every frame from the
   * hub; `onState("open" | "retrying" | "closed", reason)` hears about the connection.
   */
  constructor(encounterId, { getToken, onFrame, onState = () => {} }) {
    this.encounterId = encounterId;
    this.getToken = getToken;
    this.onFrame = onFrame;
    this.onState = onState;
    this.since = 0;
    this.ws = null;
    this.stopped = false;
    this.attempt = 0;
    this.nextRef = 1;
    this.pending = new Map();
  }

  async connect() {
    if (this.stopped) return;
    const token = await this.getToken();
    if (!token) {
      this.onState("closed", "logged out");
      return;
    }
    const query = new URLSearchParams({ access_token: token, since: String(this.since) });
    const ws = new WebSocket(socketUrl(`/live/encounters/${encodeURIComponent(this.encounterId)}?${query}`));
    this.ws = ws;
    ws.addEventListener("open", () => { this.attempt = 0; this.onState("open"); });
    ws.addEventListener("message", (event) => this.receive(event.data));
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const { reject } of this.pending.values()) reject(new Error(event.reason || "The connection closed"));
      this.pending.clear();
      if (this.stopped || FINAL_CODES.has(event.code)) {
        this.onState("closed", event.reason);
        return;
      }
      this.onState("retrying", event.reason);
      const delay = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
      this.attempt += 1;
      setTimeout(() => this.connect(), delay);
    });
  }

  receive(data) {
    let frame;
    try { frame = JSON.parse(data); } catch { return; }
    if (typeof frame.seq === "number") this.since = Math.max(this.since, frame.seq);
    if ((frame.type === "ack" || frame.type === "error") && this.pending.has(frame.ref)) {
      const { resolve, reject } = this.pending.get(frame.ref);
      this.pending.delete(frame.ref);
      if (frame.type === "ack") resolve(frame);
      else reject(new Error(frame.message || "The hub refused"));
      return;
    }
    this.onFrame(frame);
  }

  /** Send a frame; resolves with the hub's ack, rejects with its error. */
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error("Not connected"));
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, ref }));
    });
  }

  close() {
    this.stopped = true;
    if (this.ws) this.ws.close(1000, "done");
    this.ws = null;
  }
}

/** Return a chat message's text and sender from its Communication. */
export function chatText(communication) {
  const payload = (communication.payload || [])[0] || {};
  return { text: payload.contentString || "", sender: (communication.sender || {}).reference || "",
           sent: communication.sent || "" };
}
