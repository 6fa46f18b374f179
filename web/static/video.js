// A WebRTC video call between the two parties of an encounter, signalled over its live socket.
// "Perfect negotiation": either side may start, and when both offer at once the polite side
// (the citizen) yields, so the call connects whoever presses the button first; the polite side
// also waits a moment before offering, so that joining a call just offered causes no collision.
// https://www.w3.org/TR/webrtc/#perfect-negotiation-example

const POLITE_WAIT_MS = 1000;

export class VideoCall {
  /**
   * `send(frame)` sends a signalling frame over the encounter socket; `polite` says whether this
   * side yields on a collision; `onState(state)` hears "calling", "connected", "ended".
   */
  constructor({ send, polite, iceServers = [], localVideo, remoteVideo, onState = () => {} }) {
    this.sendFrame = send;
    this.polite = polite;
    this.iceServers = iceServers;
    this.localVideo = localVideo;
    this.remoteVideo = remoteVideo;
    this.onState = onState;
    this.pc = null;
    this.stream = null;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.incoming = null;   // an offer that came before this side joined
    this.early = [];        // the ICE candidates that came with it, applied once it is answered
  }

  get active() { return this.pc !== null; }

  /** Start the camera and microphone and join: answer a waiting offer, or make one. */
  async join() {
    if (this.pc) return;
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    this.localVideo.srcObject = this.stream;
    this.localVideo.hidden = false;
    this.pc = this.connection();
    for (const track of this.stream.getTracks()) this.pc.addTrack(track, this.stream);
    this.onState("calling");
    if (this.incoming) {
      const offer = this.incoming;
      const early = this.early;
      this.incoming = null;
      this.early = [];
      await this.signal(offer);
      // Dropping these left only the other side's checks to find a path, and some calls never connected.
      for (const candidate of early) await this.signal(candidate);
    }
  }

  connection() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    pc.addEventListener("negotiationneeded", async () => {
      // The polite side (the citizen) gives an offer already on its way a moment to arrive:
      // after a collision, Chromium's rolled-back side sometimes gathered no ICE candidates
      // again and the call never connected. Joining an offered call then needs no offer of its own.
      if (this.polite) await new Promise((resolve) => setTimeout(resolve, POLITE_WAIT_MS));
      if (pc !== this.pc || pc.signalingState !== "stable") return;
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        // Name the description by what it is: when an offer arrived while this was queued, the
        // description made here is an answer, and calling it an offer broke the call.
        await this.sendFrame({ type: pc.localDescription.type, sdp: pc.localDescription.sdp });
      } catch (err) {
        console.warn("offer failed", err);
      } finally {
        this.makingOffer = false;
      }
    });
    pc.addEventListener("icecandidate", ({ candidate }) => {
      this.sendFrame({ type: "ice-candidate", candidate: candidate ? candidate.toJSON() : null }).catch(() => {});
    });
    pc.addEventListener("track", ({ streams }) => {
      this.remoteVideo.srcObject = streams[0];
      this.remoteVideo.hidden = false;
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected") this.onState("connected");
      if (pc.connectionState === "failed") this.hangUp(true);
    });
    return pc;
  }

  /** Handle a signalling frame from the other party. */
  async signal(frame) {
    if (frame.type === "hang-up") {
      this.incoming = null;
      this.early = [];
      this.hangUp(false);
      return;
    }
    if (!this.pc) {
      if (frame.type === "offer") {
        this.incoming = frame;
        this.early = [];
        this.onState("incoming");
      } else if (frame.type === "ice-candidate" && this.incoming) {
        this.early.push(frame);
      }
      return;
    }
    const pc = this.pc;
    if (frame.type === "offer" || frame.type === "answer") {
      const collision = frame.type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      // An answer to an offer already answered (both sides' descriptions crossed) changes nothing.
      if (frame.type === "answer" && pc.signalingState !== "have-local-offer") return;
      await pc.setRemoteDescription({ type: frame.type, sdp: frame.sdp });
      if (frame.type === "offer") {
        await pc.setLocalDescription();
        const local = pc.localDescription;
        await this.sendFrame({ type: local.type, sdp: local.sdp });
      }
    } else if (frame.type === "ice-candidate") {
      try {
        await pc.addIceCandidate(frame.candidate || null);
      } catch (err) {
        if (!this.ignoreOffer) console.warn("ICE candidate refused", err);
      }
    }
  }

  /** End the call here, and tell the other party unless they ended it. */
  hangUp(tell = true) {
    if (tell && this.pc) this.sendFrame({ type: "hang-up" }).catch(() => {});
    if (this.pc) this.pc.close();
    this.pc = null;
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.localVideo.srcObject = null;
    this.remoteVideo.srcObject = null;
    this.localVideo.hidden = true;
    this.remoteVideo.hidden = true;
    this.onState("ended");
  }
}
