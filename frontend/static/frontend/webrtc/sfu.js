// The media of an SFU room (docs/protocol.md, "SFU rooms"): two RTCPeerConnections with the server's SFU instead of
// one per remote peer. The publisher sends our camera, microphone (and screen) once; the subscriber receives every
// other publisher's streams on one connection, each `mid` named by the peer it is of. The signaling goes through
// our socket (`sfu-publish`, `sfu-subscription`, `sfu-ice`); the SFU puts its own candidates in its descriptions.

/** @typedef {import('./types.js').SfuStream} SfuStream */

/**
 * @typedef {object} SfuSessionEvents
 * @property {(message: Record<string, unknown>) => void} signal send a frame to the server
 * @property {(peerId: string, stream: MediaStream) => void} onRemoteStream a peer's stream has a new track
 * @property {(peerId: string) => void} onRemoteStreamEnded a peer publishes nothing any more
 * @property {(state: RTCPeerConnectionState) => void} onConnectionStateChange
 * @property {(error: Error) => void} onError
 */

/**
 * @typedef {object} SfuSessionInit
 * @property {RTCIceServer[]} iceServers
 * @property {MediaStreamTrack[]} tracks what we publish (the screen already in place of the camera)
 * @property {boolean} [publishes] false: we only receive (a viewer, whom the server does not let publish)
 * @property {SfuSessionEvents} events
 */

export class SfuSession {
  /** @param {SfuSessionInit} init */
  constructor(init) {
    this.events = init.events;
    this.publisher = new RTCPeerConnection({ iceServers: init.iceServers });
    this.subscriber = new RTCPeerConnection({ iceServers: init.iceServers });
    this.closed = false;
    /** @type {Map<string, string>} the peer each `mid` of the subscriber carries */
    this.peerOfMid = new Map();
    /** @type {Map<string, MediaStream>} each publisher's stream, as it reaches us */
    this.streams = new Map();
    /** Subscription offers are answered one at a time, in arrival order. */
    this.incoming = Promise.resolve();
    /** @type {{ at: number, bytes: Record<string, number>, takenAt: number } | null} the last stats sample */
    this.lastSample = null;
    this.publisher.onicecandidate = ({ candidate }) =>
      this.events.signal({ t: "sfu-ice", target: "publisher", candidate: candidate ? candidate.toJSON() : null });
    this.subscriber.onicecandidate = ({ candidate }) =>
      this.events.signal({ t: "sfu-ice", target: "subscriber", candidate: candidate ? candidate.toJSON() : null });
    this.subscriber.ontrack = (event) => this.onTrack(event);
    for (const pc of [this.publisher, this.subscriber]) {
      pc.onconnectionstatechange = () => this.events.onConnectionStateChange(pc.connectionState);
    }
    this.publishes = init.publishes !== false;
    // One sending transceiver of each kind, whether there is a track for it now or not: a camera turned on later,
    // or a screen shared, replaces the track without renegotiating.
    /** @type {("audio" | "video")[]} */
    const kinds = this.publishes ? ["audio", "video"] : [];
    for (const kind of kinds) {
      const track = init.tracks.find((t) => t.kind === kind) ?? null;
      this.publisher.addTransceiver(track ?? kind, { direction: "sendonly" });
    }
  }

  /** Offer our media to the SFU; its answer comes as `sfu-published`. */
  async publish() {
    if (!this.publishes) return;
    try {
      await this.publisher.setLocalDescription(await this.publisher.createOffer());
      this.events.signal({ t: "sfu-publish", description: this.publisher.localDescription?.toJSON() });
    } catch (error) {
      this.fail(error);
    }
  }

  /** @param {RTCSessionDescriptionInit} description the SFU's answer */
  async handlePublished(description) {
    if (this.closed) return;
    try {
      await this.publisher.setRemoteDescription(description);
    } catch (error) {
      this.fail(error);
    }
  }

  /**
   * The SFU's offer for the subscriber, and whose each stream is.
   * @param {RTCSessionDescriptionInit} description
   * @param {SfuStream[]} streams
   */
  handleSubscription(description, streams) {
    this.incoming = this.incoming.then(async () => {
      if (this.closed) return;
      const before = new Set(this.peerOfMid.values());
      this.peerOfMid = new Map(streams.map((stream) => [stream.mid, stream.peerId]));
      try {
        await this.subscriber.setRemoteDescription(description);
        await this.subscriber.setLocalDescription(await this.subscriber.createAnswer());
        this.events.signal({ t: "sfu-subscribed", description: this.subscriber.localDescription?.toJSON() });
      } catch (error) {
        this.fail(error);
        return;
      }
      const now = new Set(this.peerOfMid.values());
      for (const peerId of before) {
        if (!now.has(peerId)) this.forget(peerId);
      }
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

  /** @param {unknown} error */
  fail(error) {
    if (this.closed) return;
    this.events.onError(error instanceof Error ? error : new Error(String(error)));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
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
