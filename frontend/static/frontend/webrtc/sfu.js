// The media of an SFU room (docs/protocol.md, "SFU rooms"): two RTCPeerConnections with the server's SFU instead of
// one per remote peer. The publisher sends our camera, microphone (and screen) once; the subscriber receives every
// other publisher's streams on one connection, each `mid` named by the peer it is of. The signaling goes through
// our socket (`sfu-publish`, `sfu-subscription`, `sfu-ice`); the SFU puts its own candidates in its descriptions.
// Fresh TURN credentials move a connection that relays onto a new allocation by an ICE restart: the publisher
// offers again with new ICE credentials, the subscriber asks the SFU for a new offer (`sfu-restart`).

import { PathReport } from "./paths.js";
import { relaysLocally } from "./quality.js";

/** Milliseconds the publisher waits for the SFU's answer to an offer before it may offer again. */
const PUBLISH_ANSWER_TIMEOUT = 15000;

/**
 * Milliseconds a lower layer we chose may go without a decoded frame before we ask for the top layer instead: the
 * publisher's encoder sheds lower layers when its picture gets small (a smaller camera, CPU adaptation), and the
 * SFU, stuck on a layer that went quiet, only ever falls back to a lower one.
 */
const LAYER_STALL_MS = 1500;

/**
 * The three simulcast layers of our video (VP8), best first as the SFU expects them: full size, half, a quarter.
 * A subscriber gets the one that fits the size it shows our video at (`sfu-quality`).
 * @type {RTCRtpEncodingParameters[]}
 */
export const SIMULCAST_LAYERS = [
  { rid: "h", maxBitrate: 700_000 },
  { rid: "m", maxBitrate: 250_000, scaleResolutionDownBy: 2 },
  { rid: "l", maxBitrate: 100_000, scaleResolutionDownBy: 4 },
];

/** @typedef {import('./types.js').SfuStream} SfuStream */

/**
 * @typedef {object} SfuSessionEvents
 * @property {(message: Record<string, unknown>) => void} signal send a frame to the server
 * @property {(peerId: string, stream: MediaStream) => void} onRemoteStream a peer's stream has a new track
 * @property {(peerId: string) => void} onRemoteStreamEnded a peer publishes nothing any more
 * @property {(state: RTCPeerConnectionState) => void} onConnectionStateChange
 * @property {(error: Error) => void} onError
 * @property {() => void} onIceRestart a connection with the SFU restarts ICE (onto fresh TURN credentials)
 * @property {(frame: import('./paths.js').PathFrame) => boolean} tellPath send a `path` frame to the server
 */

/**
 * @typedef {object} SfuSessionInit
 * @property {RTCIceServer[]} iceServers
 * @property {MediaStreamTrack[]} tracks what we publish (the screen already in place of the camera)
 * @property {boolean} [publishes] false: we only receive (a viewer, whom the server does not let publish)
 * @property {boolean} [simulcast] false: our video goes in one layer only (default: three, `SIMULCAST_LAYERS`)
 * @property {Map<string, import('./adaptive.js').VideoQuality>} [qualities] the layer wanted of each peer's video
 * @property {SfuSessionEvents} events
 */

export class SfuSession {
  /** @param {SfuSessionInit} init */
  constructor(init) {
    this.events = init.events;
    /** @type {RTCConfiguration} what a new connection with the SFU is made with (fresh credentials included) */
    this.configuration = { iceServers: init.iceServers };
    /** @type {Partial<Record<"publisher" | "subscriber", PathReport>>} each connection's media path */
    this.paths = {};
    this.publisher = this.connection("publisher");
    this.subscriber = this.connection("subscriber");
    this.closed = false;
    /** @type {Map<string, string>} the peer each `mid` of the subscriber carries */
    this.peerOfMid = new Map();
    /** @type {Map<string, MediaStream>} each publisher's stream, as it reaches us */
    this.streams = new Map();
    /** Subscription offers are answered one at a time, in arrival order. */
    this.incoming = Promise.resolve();
    /** @type {{ at: number, bytes: Record<string, number>, takenAt: number } | null} the last stats sample */
    this.lastSample = null;
    /** The publisher's offers go one at a time: the next waits for the SFU's answer to the last. */
    this.publishing = Promise.resolve();
    /** @type {(() => void) | null} settles the offer waiting for its answer */
    this.answered = null;
    this.publishes = init.publishes !== false;
    /** @type {Map<string, import('./adaptive.js').VideoQuality>} the layer wanted of each peer's video (shared) */
    this.qualities = init.qualities ?? new Map();
    /** @type {Map<string, string>} what the server was told of each peer, for this session's subscription */
    this.toldQualities = new Map();
    /** @type {Map<string, { frames: number, at: number }>} per peer on a lower layer: its frames, since when */
    this.layerProgress = new Map();
    /** @type {ReturnType<typeof setInterval> | null} the watch of lower layers that go quiet */
    this.layerGuard = null;
    // One sending transceiver of each kind, whether there is a track for it now or not: a camera turned on later,
    // or a screen shared, replaces the track without renegotiating.
    /** @type {("audio" | "video")[]} */
    const kinds = this.publishes ? ["audio", "video"] : [];
    for (const kind of kinds) {
      const track = init.tracks.find((t) => t.kind === kind) ?? null;
      /** @type {RTCRtpTransceiverInit} */
      const options = { direction: "sendonly" };
      if (kind === "video" && init.simulcast !== false) options.sendEncodings = SIMULCAST_LAYERS.map((l) => ({ ...l }));
      this.publisher.addTransceiver(track ?? kind, options);
    }
  }

  /**
   * A connection with the SFU, its candidates and state told as `target`'s.
   * @param {"publisher" | "subscriber"} target
   */
  connection(target) {
    const pc = new RTCPeerConnection(this.configuration);
    const path = new PathReport(`sfu-${target}`, pc, this.events.tellPath);
    this.paths[target]?.cancel();
    this.paths[target] = path;
    pc.onicecandidate = ({ candidate }) =>
      this.send({ t: "sfu-ice", target, candidate: candidate ? candidate.toJSON() : null });
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "connected") void path.update();
      this.events.onConnectionStateChange(pc.connectionState);
    };
    if (target === "subscriber") pc.ontrack = (event) => this.onTrack(event);
    return pc;
  }

  /**
   * Offer our media to the SFU; its answer comes as `sfu-published`. After the first offer, a renegotiation
   * (`{ iceRestart: true }`: onto fresh TURN credentials).
   * @param {RTCOfferOptions} [options]
   */
  publish(options = {}) {
    if (!this.publishes) return this.publishing;
    this.publishing = this.publishing.then(() => this.offer(options));
    return this.publishing;
  }

  /** @param {RTCOfferOptions} options */
  async offer(options) {
    if (this.closed) return;
    const answered = new Promise((resolve) => {
      this.answered = () => resolve(undefined);
    });
    try {
      await this.publisher.setLocalDescription(await this.publisher.createOffer(options));
      this.send({ t: "sfu-publish", description: this.publisher.localDescription?.toJSON() });
    } catch (error) {
      this.fail(error);
      return;
    }
    // A refused offer gets an `error` frame, not an answer: the next offer goes after the timeout.
    await Promise.race([answered, new Promise((resolve) => setTimeout(resolve, PUBLISH_ANSWER_TIMEOUT))]);
  }

  /** @param {RTCSessionDescriptionInit} description the SFU's answer */
  async handlePublished(description) {
    if (this.closed) return;
    try {
      if (this.publisher.signalingState === "have-local-offer") await this.publisher.setRemoteDescription(description);
    } catch (error) {
      this.fail(error);
    } finally {
      this.answered?.();
      this.answered = null;
    }
  }

  /**
   * New ICE servers (fresh TURN credentials from the server): both connections take them, and each that relays
   * through TURN restarts ICE onto a new allocation (its old one's refreshes are refused once the credentials it
   * was made with expire). Media goes on over the old path until the new one is up.
   * @param {RTCIceServer[]} iceServers
   */
  async useIceServers(iceServers) {
    if (this.closed) return;
    this.configuration = { ...this.configuration, iceServers };
    for (const pc of [this.publisher, this.subscriber]) pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
    const [publisherRelays, subscriberRelays] = await Promise.all([
      relaysLocally(this.publisher),
      relaysLocally(this.subscriber),
    ]);
    if (this.closed) return;
    if (this.publishes && publisherRelays) {
      this.events.onIceRestart();
      void this.publish({ iceRestart: true });
    }
    if (subscriberRelays) {
      this.events.onIceRestart();
      this.send({ t: "sfu-restart" });
    }
  }

  /**
   * The SFU's offer for the subscriber, and whose each stream is; `fresh`: for a new connection (the SFU dropped
   * the last one), answered on a new one if the subscriber has taken an offer already.
   * @param {RTCSessionDescriptionInit} description
   * @param {SfuStream[]} streams
   * @param {boolean} [fresh]
   */
  handleSubscription(description, streams, fresh = false) {
    this.incoming = this.incoming.then(async () => {
      if (this.closed) return;
      if (fresh && this.subscriber.remoteDescription) {
        // Each peer's stream stays the same MediaStream: the new connection's tracks take the old ones' place.
        this.subscriber.close();
        this.subscriber = this.connection("subscriber");
      }
      const before = new Set(this.peerOfMid.values());
      this.peerOfMid = new Map(streams.map((stream) => [stream.mid, stream.peerId]));
      try {
        await this.subscriber.setRemoteDescription(description);
        await this.subscriber.setLocalDescription(await this.subscriber.createAnswer());
        this.send({ t: "sfu-subscribed", description: this.subscriber.localDescription?.toJSON() });
      } catch (error) {
        this.fail(error);
        return;
      }
      const now = new Set(this.peerOfMid.values());
      for (const peerId of before) {
        if (!now.has(peerId)) this.forget(peerId);
      }
      // The SFU takes a choice of layer for the peers this subscription carries only: told now for new ones.
      for (const peerId of [...this.toldQualities.keys()]) if (!now.has(peerId)) this.toldQualities.delete(peerId);
      for (const peerId of now) this.tellQuality(peerId);
    });
  }

  /**
   * Receive `peerId`'s video at `quality` (a simulcast layer, or "off": none at all).
   * @param {string} peerId
   * @param {import('./adaptive.js').VideoQuality} quality
   */
  setQuality(peerId, quality) {
    this.qualities.set(peerId, quality);
    if (new Set(this.peerOfMid.values()).has(peerId)) this.tellQuality(peerId);
  }

  /** @param {string} peerId */
  tellQuality(peerId) {
    const quality = this.qualities.get(peerId);
    if (this.closed || quality === undefined || this.toldQualities.get(peerId) === quality) return;
    this.signalQuality(peerId, quality);
  }

  /**
   * @param {string} peerId
   * @param {string} quality
   */
  signalQuality(peerId, quality) {
    this.toldQualities.set(peerId, quality);
    this.layerProgress.delete(peerId);
    this.send({ t: "sfu-quality", peerId, quality });
    if ((quality === "low" || quality === "medium") && this.layerGuard === null) {
      this.layerGuard = setInterval(() => void this.guardLayers(), 500);
    }
  }

  /** A peer's lower layer that decodes nothing for LAYER_STALL_MS: ask for its top layer, which is always sent. */
  async guardLayers() {
    const lower = [...this.toldQualities].filter(([, quality]) => quality === "low" || quality === "medium");
    if (this.closed || lower.length === 0) {
      if (this.layerGuard !== null) clearInterval(this.layerGuard);
      this.layerGuard = null;
      return;
    }
    const watched = new Set(lower.map(([peerId]) => peerId));
    const now = performance.now();
    (await this.subscriber.getStats()).forEach((report) => {
      const peerId = report.type === "inbound-rtp" && report.kind === "video" ? this.peerOfMid.get(report.mid) : null;
      if (!peerId || !watched.has(peerId)) return;
      const frames = report.framesDecoded ?? 0;
      const seen = this.layerProgress.get(peerId);
      if (!seen || frames > seen.frames) this.layerProgress.set(peerId, { frames, at: now });
      else if (now - seen.at > LAYER_STALL_MS && !this.closed) this.signalQuality(peerId, "high");
    });
  }

  /** @param {RTCTrackEvent} event */
  onTrack(event) {
    const peerId = this.peerOfMid.get(event.transceiver.mid ?? "");
    if (!peerId) return;
    let stream = this.streams.get(peerId);
    if (!stream) {
      stream = new MediaStream();
      this.streams.set(peerId, stream);
    }
    const track = event.track;
    for (const old of stream.getTracks()) if (old.kind === track.kind && old !== track) stream.removeTrack(old);
    if (!stream.getTracks().includes(track)) stream.addTrack(track);
    this.events.onRemoteStream(peerId, stream);
  }

  /** @param {string} peerId a publisher that is gone */
  forget(peerId) {
    if (this.streams.delete(peerId)) this.events.onRemoteStreamEnded(peerId);
  }

  /**
   * @param {string} peerId
   * @returns {string[]} the mids of `peerId`'s streams on the subscriber
   */
  midsOf(peerId) {
    return [...this.peerOfMid].filter(([, id]) => id === peerId).map(([mid]) => mid);
  }

  /** @param {MediaStreamTrack | null} track */
  async replaceAudioTrack(track) {
    await this.sender("audio")?.replaceTrack(track);
  }

  /**
   * @param {MediaStreamTrack | null} track
   * @param {MediaStream | null} [_stream]
   */
  async replaceVideoTrack(track, _stream) {
    await this.sender("video")?.replaceTrack(track);
  }

  /** @param {"audio" | "video"} kind */
  sender(kind) {
    return this.publisher.getTransceivers().find((t) => t.receiver.track.kind === kind)?.sender ?? null;
  }

  get isConnected() {
    return this.publisher.connectionState === "connected" || this.subscriber.connectionState === "connected";
  }

  /**
   * A frame to the server, from this session only while it is open: work of a closed session that was under way
   * (an answer being made when the room moved to another node) must not reach the new one's member.
   * @param {Record<string, unknown>} message
   */
  send(message) {
    if (!this.closed) this.events.signal(message);
  }

  /** @param {unknown} error */
  fail(error) {
    if (this.closed) return;
    this.events.onError(error instanceof Error ? error : new Error(String(error)));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.layerGuard !== null) clearInterval(this.layerGuard);
    for (const path of Object.values(this.paths)) path?.cancel();
    this.answered?.();
    this.publisher.close();
    this.subscriber.close();
    this.streams.clear();
  }
}

/**
 * A data-channel message as a `data` frame: text as it is, binary in base64 (what the server relays).
 * @param {string} label
 * @param {string | ArrayBuffer | ArrayBufferView} data
 * @param {string | null} to
 * @returns {Record<string, unknown>}
 */
export function dataFrame(label, data, to) {
  /** @type {Record<string, unknown>} */
  const frame = { t: "data", label };
  if (to !== null) frame.to = to;
  if (typeof data === "string") {
    frame.text = data;
  } else {
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    frame.binary = btoa(binary);
  }
  return frame;
}

/**
 * What a `data` frame carries, as a data channel would hand it over: the string, or an ArrayBuffer.
 * @param {{ text?: unknown, binary?: unknown }} frame
 * @returns {string | ArrayBuffer | null}
 */
export function dataOf(frame) {
  if (typeof frame.text === "string") return frame.text;
  if (typeof frame.binary !== "string") return null;
  try {
    const text = atob(frame.binary);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
    return bytes.buffer;
  } catch {
    return null;
  }
}
