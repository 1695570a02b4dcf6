// One remote peer of a mesh call: its RTCPeerConnection, negotiated with the "perfect negotiation" pattern, its
// data channels, its remote stream, and ICE restarts when its path fails.

import { PathReport } from "./paths.js";
import { relaysLocally } from "./quality.js";
import { WebRTCCallError } from "./signaling.js";
import { Timers } from "./timers.js";

/** @typedef {import('./types.js').DataChannelConfig} DataChannelConfig */

/** ICE restarts in a row that may fail before the link gives up and reports `ice-failed`. */
export const MAX_ICE_RESTARTS = 3;
/** A `disconnected` connection often recovers by itself; past this many milliseconds ICE is restarted. */
export const DISCONNECTED_GRACE = 4000;
/** How long the answering side waits, once connected, for the initiator's channels before opening the rest. */
export const CHANNEL_GRACE = 1000;
/**
 * Milliseconds an offer of ours may wait for its answer before we roll it back and offer again. A client that
 * handles signaling messages without waiting for the one before (Agentuity's does) can take our offer, arriving
 * right behind our answer to its own, for a collision and drop it, and then never offers itself: both sides would
 * wait for ever.
 */
export const ANSWER_TIMEOUT = 10000;

/**
 * @typedef {object} PeerLinkEvents
 * @property {(message: Record<string, unknown>) => void} signal send an `sdp` or `ice` message to this peer
 * @property {(stream: MediaStream) => void} onRemoteStream
 * @property {(state: RTCPeerConnectionState) => void} onConnectionStateChange
 * @property {(label: string) => void} onChannelOpen
 * @property {(label: string) => void} onChannelClose
 * @property {(label: string, data: string | ArrayBuffer) => void} onChannelMessage
 * @property {(error: Error) => void} onError
 * @property {() => void} onIceRestart
 * @property {(frame: import('./paths.js').PathFrame) => boolean} tellPath send a `path` frame to the server
 */

/**
 * @typedef {object} PeerLinkInit
 * @property {string} remoteId
 * @property {boolean} polite yields to the other side's offer when both offer at once
 * @property {boolean} initiator makes the first offer (the joiner, for each peer already in the room)
 * @property {RTCIceServer[]} iceServers
 * @property {MediaStreamTrack[]} tracks local tracks to send (screen share already swapped in)
 * @property {MediaStream | null} stream the stream the tracks are announced in
 * @property {() => DataChannelConfig[]} dataChannels the channels configured now: the initiator opens them;
 *   the other side opens, once connected, those the initiator did not
 * @property {number} connectionTimeout
 * @property {number} iceGatheringTimeout
 * @property {PeerLinkEvents} events
 */

export class PeerLink {
  /** @param {PeerLinkInit} init */
  constructor(init) {
    this.remoteId = init.remoteId;
    this.polite = init.polite;
    this.events = init.events;
    this.connectionTimeout = init.connectionTimeout;
    this.iceGatheringTimeout = init.iceGatheringTimeout;
    this.pc = new RTCPeerConnection({ iceServers: init.iceServers });
    /** @type {Map<string, RTCDataChannel>} */
    this.channels = new Map();
    this.remoteStream = new MediaStream();
    this.closed = false;
    // Perfect negotiation state (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example).
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    this.iceRestarts = 0;
    /** Remote descriptions and candidates are applied one at a time, in arrival order. */
    this.incoming = Promise.resolve();
    this.tracksAdded = false;
    this.localTracks = init.tracks;
    this.localStream = init.stream;
    /** @type {RTCRtpSender | null} a sender added for a screen share when there was no video sender to reuse */
    this.addedVideoSender = null;
    this.timers = new Timers();
    /** @type {{ at: number, bytes: Record<string, number>, takenAt: number } | null} the last stats sample */
    this.lastSample = null;
    this.path = new PathReport(this.remoteId, this.pc, init.events.tellPath);

    this.pc.addEventListener("negotiationneeded", () => this.offer());
    this.pc.addEventListener("icecandidate", ({ candidate }) => {
      if (!candidate) return;
      this.timers.clear("gathering");
      // Agentuity's protocol has no end-of-candidates message: the null candidate is not sent.
      this.events.signal({ t: "ice", to: this.remoteId, candidate: candidate.toJSON() });
    });
    this.pc.addEventListener("icegatheringstatechange", () => {
      // A round that completes without a candidate is not failed at once: back-to-back ICE restarts end a round
      // that the next one replaces (its candidates clear the timer). Only a whole timeout without any is.
      if (this.pc.iceGatheringState === "gathering" && !/\na=candidate:/.test(this.pc.localDescription?.sdp ?? "")) {
        this.timers.set("gathering", this.iceGatheringTimeout, () => this.gatheringTimedOut());
      }
    });
    this.pc.addEventListener("track", (event) => this.addRemoteTrack(event.track, event.streams[0]));
    this.pc.addEventListener("datachannel", (event) => this.adoptChannel(event.channel));
    this.pc.addEventListener("connectionstatechange", () => this.connectionStateChanged());

    /** @type {(() => DataChannelConfig[]) | null} what this side opens itself if the initiator did not */
    this.channelsToComplete = init.initiator ? null : init.dataChannels;
    this.armConnectionTimer();
    if (init.initiator) {
      this.addLocalTracks();
      const configs = init.dataChannels();
      for (const config of configs) this.openChannel(config);
      if (!this.localTracks.length && !configs.length) {
        // Nothing of our own to send, but the other side may have media: offer to receive it.
        this.pc.addTransceiver("audio", { direction: "recvonly" });
        this.pc.addTransceiver("video", { direction: "recvonly" });
      }
    }
  }

  get isConnected() {
    return this.pc.connectionState === "connected";
  }

  /** Our offer, whenever the connection needs one (first contact, new tracks or channels, ICE restart). */
  async offer() {
    // One offer at a time, from a stable state: a negotiation still needed fires `negotiationneeded` again once
    // the connection is stable.
    if (this.closed || this.makingOffer || this.pc.signalingState !== "stable") return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.sendDescription();
      this.timers.set("answer", ANSWER_TIMEOUT, () => this.offerAgain());
    } catch (error) {
      this.fail("negotiation-failed", "Could not create an offer", error);
    } finally {
      this.makingOffer = false;
    }
  }

  sendDescription() {
    const description = this.pc.localDescription;
    if (description) {
      this.events.signal({
        t: "sdp",
        to: this.remoteId,
        description: { type: description.type, sdp: description.sdp },
      });
    }
  }

  /** Our offer went unanswered (see ANSWER_TIMEOUT): take it back and make a new one. */
  offerAgain() {
    this.enqueue(async () => {
      if (this.pc.signalingState !== "have-local-offer") return;
      await this.pc.setLocalDescription({ type: "rollback" });
      await this.offer();
    });
  }

  /** @param {RTCSessionDescriptionInit} description */
  handleDescription(description) {
    this.enqueue(async () => {
      const pc = this.pc;
      const readyForOffer = !this.makingOffer && (pc.signalingState === "stable" || this.settingRemoteAnswer);
      const collision = description.type === "offer" && !readyForOffer;
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      this.settingRemoteAnswer = description.type === "answer";
      // Answered, or their offer replaces ours (we are polite): ours waits no more.
      this.timers.clear("answer");
      try {
        await pc.setRemoteDescription(description);
      } finally {
        this.settingRemoteAnswer = false;
      }
      if (description.type === "offer") {
        // Added after the offer is applied, so our tracks ride on the transceivers it created.
        this.addLocalTracks();
        await pc.setLocalDescription();
        this.sendDescription();
      }
    });
  }

  /** @param {RTCIceCandidateInit} candidate */
  handleCandidate(candidate) {
    this.enqueue(async () => {
      try {
        await this.pc.addIceCandidate(candidate);
      } catch (error) {
        // Candidates of an offer we ignored in a collision are expected to fail.
        if (!this.ignoreOffer) throw error;
      }
    });
  }

  /** @param {() => Promise<void>} operation */
  enqueue(operation) {
    this.incoming = this.incoming
      .then(() => (this.closed ? undefined : operation()))
      .catch((error) => this.fail("negotiation-failed", "Could not apply the remote peer's description", error));
  }

  addLocalTracks() {
    if (this.tracksAdded) return;
    this.tracksAdded = true;
    for (const track of this.localTracks) {
      if (this.localStream) this.pc.addTrack(track, this.localStream);
      else this.pc.addTrack(track);
    }
  }

  /**
   * Send `track` as our video (a screen share, or the camera back); null sends no video.
   * @param {MediaStreamTrack | null} track
   * @param {MediaStream | null} stream
   */
  async replaceVideoTrack(track, stream) {
    // Links created later, and this one if it has not added its tracks yet, start with the new track.
    this.localTracks = [...this.localTracks.filter((t) => t.kind !== "video"), ...(track ? [track] : [])];
    if (!this.tracksAdded) return;
    if (this.addedVideoSender) {
      if (track) {
        await this.addedVideoSender.replaceTrack(track);
      } else {
        this.pc.removeTrack(this.addedVideoSender);
        this.addedVideoSender = null;
      }
      return;
    }
    const sending = this.pc
      .getTransceivers()
      .find((t) => t.receiver.track.kind === "video" && (t.direction === "sendrecv" || t.direction === "sendonly"));
    if (sending) {
      // Same transceiver, new source: no renegotiation, the remote side keeps its track.
      await sending.sender.replaceTrack(track);
    } else if (track) {
      this.addedVideoSender = stream ? this.pc.addTrack(track, stream) : this.pc.addTrack(track);
    }
  }

  /**
   * Send `track` as our audio (another microphone): the same sender, so no renegotiation.
   * @param {MediaStreamTrack | null} track
   */
  async replaceAudioTrack(track) {
    this.localTracks = [...this.localTracks.filter((t) => t.kind !== "audio"), ...(track ? [track] : [])];
    if (!this.tracksAdded) return;
    const sending = this.pc
      .getTransceivers()
      .find((t) => t.receiver.track.kind === "audio" && (t.direction === "sendrecv" || t.direction === "sendonly"));
    if (sending) await sending.sender.replaceTrack(track);
  }

  /** @returns {MediaStreamTrack | null} the video track being sent */
  get sentVideoTrack() {
    return this.pc.getSenders().find((sender) => sender.track?.kind === "video")?.track ?? null;
  }

  /**
   * @param {MediaStreamTrack} track
   * @param {MediaStream | undefined} stream
   */
  addRemoteTrack(track, stream) {
    if (!this.remoteStream.getTracks().includes(track)) this.remoteStream.addTrack(track);
    const remove = () => {
      if (this.remoteStream.getTracks().includes(track)) {
        this.remoteStream.removeTrack(track);
        this.events.onRemoteStream(this.remoteStream);
      }
    };
    track.addEventListener("ended", remove, { once: true });
    stream?.addEventListener("removetrack", (event) => {
      if (event.track === track) remove();
    });
    this.events.onRemoteStream(this.remoteStream);
  }

  /** @param {DataChannelConfig} config */
  openChannel(config) {
    const { label, ...init } = config;
    this.adoptChannel(this.pc.createDataChannel(label, init));
  }

  /** @param {RTCDataChannel} channel */
  adoptChannel(channel) {
    channel.binaryType = "arraybuffer";
    // When both sides open a channel of the same label, the newest is used to send; both deliver.
    this.channels.set(channel.label, channel);
    channel.addEventListener("open", () => this.events.onChannelOpen(channel.label));
    channel.addEventListener("close", () => {
      if (this.channels.get(channel.label) === channel) this.channels.delete(channel.label);
      if (!this.closed) this.events.onChannelClose(channel.label);
    });
    channel.addEventListener("message", (event) => this.events.onChannelMessage(channel.label, event.data));
  }

  /**
   * Resolves once the channel's send buffer holds at most `threshold` bytes (at once if it does, or if the channel
   * is not open): the backpressure of a large transfer.
   * @param {string} label
   * @param {number} threshold
   * @returns {Promise<void>}
   */
  whenDrained(label, threshold) {
    const channel = this.channels.get(label);
    if (!channel || channel.readyState !== "open" || channel.bufferedAmount <= threshold) return Promise.resolve();
    return new Promise((resolve) => {
      channel.bufferedAmountLowThreshold = threshold;
      const done = () => {
        channel.removeEventListener("bufferedamountlow", done);
        channel.removeEventListener("close", done);
        resolve();
      };
      channel.addEventListener("bufferedamountlow", done);
      channel.addEventListener("close", done);
    });
  }

  /**
   * @param {string} label
   * @param {string | ArrayBuffer | ArrayBufferView | Blob} data
   * @returns {boolean} whether it was sent (the channel is open)
   */
  send(label, data) {
    const channel = this.channels.get(label);
    if (!channel || channel.readyState !== "open") return false;
    channel.send(/** @type {any} */ (data));
    return true;
  }

  /** @param {string} label */
  channelState(label) {
    return this.channels.get(label)?.readyState ?? null;
  }

  /** @param {string} label */
  closeChannel(label) {
    const channel = this.channels.get(label);
    if (!channel) return false;
    this.channels.delete(label);
    channel.close();
    return true;
  }

  connectionStateChanged() {
    const state = this.pc.connectionState;
    this.timers.clear("disconnected");
    if (state === "connected") {
      this.iceRestarts = 0;
      this.timers.clear("connect");
      void this.path.update();
      const configs = this.channelsToComplete;
      if (configs) {
        this.channelsToComplete = null;
        // The initiator's channels announce themselves as soon as the connection is up; a label it did not
        // open (its page configured fewer) is opened from this side, so that every configured label exists.
        this.timers.set("channels", CHANNEL_GRACE, () => {
          for (const config of configs()) if (!this.channels.has(config.label)) this.openChannel(config);
        });
      }
    } else if (state === "failed") {
      this.restartIce();
    } else if (state === "disconnected") {
      this.timers.set("disconnected", DISCONNECTED_GRACE, () => this.restartIce());
    }
    this.events.onConnectionStateChange(state);
  }

  /**
   * New ICE servers for this connection (fresh TURN credentials). A TURN allocation keeps the credentials it was
   * made with, and the TURN server refuses its refreshes once they expire: when our side of the path relays,
   * an ICE restart moves it onto a new allocation (media goes on over the old path until the new one is up).
   * Not counted as a failed path.
   * @param {RTCIceServer[]} iceServers
   */
  async useIceServers(iceServers) {
    if (this.closed) return;
    this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
    if (await this.relaysLocally()) {
      this.events.onIceRestart();
      this.pc.restartIce();
    }
  }

  /** Whether the selected candidate pair's local side is a TURN relay candidate. */
  async relaysLocally() {
    return !this.closed && (await relaysLocally(this.pc));
  }

  /** Look for a new network path to this peer, keeping the call (and the other peers) as they are. */
  restartIce() {
    if (this.closed) return;
    if (this.iceRestarts >= MAX_ICE_RESTARTS) {
      this.fail("ice-failed", `No network path to peer ${this.remoteId} after ${MAX_ICE_RESTARTS} ICE restarts`);
      return;
    }
    this.iceRestarts += 1;
    this.armConnectionTimer();
    this.events.onIceRestart();
    this.pc.restartIce();
  }

  armConnectionTimer() {
    this.timers.set("connect", this.connectionTimeout, () => {
      if (!this.isConnected) this.restartIce();
    });
  }

  gatheringTimedOut() {
    this.timers.clear("gathering");
    this.fail(
      "ice-gathering-timeout",
      `No local ICE candidate for peer ${this.remoteId} within ${this.iceGatheringTimeout} ms`,
    );
  }

  /**
   * @param {string} code
   * @param {string} message
   * @param {unknown} [cause]
   */
  fail(code, message, cause) {
    if (this.closed) return;
    this.events.onError(new WebRTCCallError(code, message, { peerId: this.remoteId, cause }));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.timers.clearAll();
    this.path.cancel();
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
    this.pc.close();
  }
}
