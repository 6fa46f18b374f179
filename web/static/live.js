// Keep an encounter's live WebSocket open: chat messages, receipts, case changes and WebRTC
// signalling, resuming after a drop from the last `seq` seen so nothing is lost or repeated.
// The protocol is the hub's (hub/live/sockets.py): hello, replay, replayed, then live frames.
// https://www.rfc-editor.org/rfc/rfc6455

import { socketUrl } from "/web/static/api.js";
import { tokenTimes } from "/web/static/auth.js";

const RETRY_MS = [1000, 2000, 5000, 10000];
// Codes after which reconnecting cannot help: not a party, no such encounter, a bad request.
const FINAL_CODES = new Set([4400, 4403, 4404]);
// How long a frame sent while the socket reconnects waits for it before giving up.
const SEND_WAIT_MS = 10_000;
// How soon to try renewing again when the login could not be refreshed yet.
const RENEW_RETRY_MS = 2000;

export class EncounterSocket {
  /**
   * `getToken` returns a fresh access token (async); `onFrame(frame)` gets every frame from the
   * hub; `onState("open" | "retrying" | "closed", reason)` hears about the connection.
   * The hub closes a socket whose token has expired, so shortly before that the socket asks
   * for a fresh token and reconnects with it, resuming from the last `seq` it saw.
   */
  constructor(encounterId, { getToken, onFrame, onState = () => {} }) {
    this.encounterId = encounterId;
    this.getToken = getToken;
    this.onFrame = onFrame;
    this.onState = onState;
    this.since = 0;
    this.ws = null;
    this.token = null;
    this.stopped = false;
    this.attempt = 0;
    this.nextRef = 1;
    this.pending = new Map();
    this.renewTimer = null;
    this.waiting = [];  // sends waiting for the socket to open
  }

  async connect() {
    if (this.stopped) return;
    let token = null;
    try {
      token = await this.getToken();
    } catch {
      token = null;
    }
    if (this.stopped) return;
    if (!token) {
      this.onState("closed", "logged out");
      this.#giveUpWaiting(new Error("Logged out"));
      return;
    }
    this.#open(token);
  }

  #open(token) {
    this.token = token;
    const query = new URLSearchParams({ access_token: token, since: String(this.since) });
    const ws = new WebSocket(socketUrl(`/live/encounters/${encodeURIComponent(this.encounterId)}?${query}`));
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.#scheduleRenewal();
      this.onState("open");
      for (const { resolve } of this.waiting.splice(0)) resolve();
    });
    // A renewed socket's last frames still count: chat is kept by id, and signals are not replayed.
    ws.addEventListener("message", (event) => this.receive(event.data));
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.renewTimer);
      for (const { reject } of this.pending.values()) reject(new Error(event.reason || "The connection closed"));
      this.pending.clear();
      if (this.stopped || FINAL_CODES.has(event.code)) {
        this.onState("closed", event.reason);
        this.#giveUpWaiting(new Error(event.reason || "The connection closed"));
        return;
      }
      this.onState("retrying", event.reason);
      const delay = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
      this.attempt += 1;
      setTimeout(() => this.connect(), delay);
    });
  }

  #scheduleRenewal() {
    clearTimeout(this.renewTimer);
    const times = tokenTimes(this.token);
    if (!times) return;
    this.renewTimer = setTimeout(() => this.renew(), Math.max(0, times.refreshAt - Date.now()));
  }

  /**
   * Reconnect with a fresh token before the hub closes the socket for an expired one.
   * Waits for frames still awaiting the hub's ack, so none is refused by the swap.
   */
  async renew() {
    clearTimeout(this.renewTimer);
    if (this.stopped || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (this.pending.size) {
      this.renewTimer = setTimeout(() => this.renew(), 200);
      return;
    }
    let token = null;
    try {
      token = await this.getToken();
    } catch {
      token = null;
    }
    if (this.stopped || !this.ws) return;
    if (!token || token === this.token) {
      // Not refreshed (the hub's login was away for a moment): try again while the old one lasts.
      const times = tokenTimes(this.token);
      if (token && times && times.expiresAt > Date.now() + RENEW_RETRY_MS) {
        this.renewTimer = setTimeout(() => this.renew(), RENEW_RETRY_MS);
      }
      return;
    }
    const old = this.ws;
    this.ws = null;  // the old socket's close is ours, not a drop to retry
    old.close(1000, "renewing the token");
    this.#open(token);
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

  /**
   * Send a frame; resolves with the hub's ack, rejects with its error. While the socket
   * reconnects the frame waits for it a little; a token past expiry is renewed first.
   */
  send(frame) {
    if (this.stopped) return Promise.reject(new Error("Not connected"));
    const times = tokenTimes(this.token);
    const expired = Boolean(times) && Date.now() >= times.expiresAt;
    if (this.ws && this.ws.readyState === WebSocket.OPEN && !expired) return this.#sendNow(frame);
    return this.#sendLater(frame, expired);
  }

  #sendNow(frame) {
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, ref }));
    });
  }

  async #sendLater(frame, expired) {
    if (expired && this.ws && this.ws.readyState === WebSocket.OPEN) await this.renew();
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) await this.#whenOpen();
    return this.#sendNow(frame);
  }

  #whenOpen() {
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject };
      this.waiting.push(entry);
      setTimeout(() => {
        const at = this.waiting.indexOf(entry);
        if (at >= 0) {
          this.waiting.splice(at, 1);
          reject(new Error("Not connected"));
        }
      }, SEND_WAIT_MS);
    });
  }

  #giveUpWaiting(err) {
    for (const { reject } of this.waiting.splice(0)) reject(err);
  }

  close() {
    this.stopped = true;
    clearTimeout(this.renewTimer);
    this.#giveUpWaiting(new Error("Not connected"));
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
