// WebRTCCall: one browser's part in a mesh call, framework-free. The React hook (react.js) wraps it.

import { VIDEO_QUALITIES, watchVideoElement } from "./adaptive.js";
import { SignalingConnection } from "./connection.js";
import { sendConnectionReport, testConnection } from "./connectiontest.js";
import { DEFAULT_ICE_SERVERS } from "./ice.js";
import { SpeakerDetector } from "./levels.js";
import { PeerLink } from "./peer.js";
import { SfuSession, dataFrame, dataOf } from "./sfu.js";
import { summarize } from "./quality.js";
import { startRecording } from "./recording.js";
import { ROOM_ID, WebRTCCallError, signalingUrl } from "./signaling.js";
import { UserMediaSource, sourceOf } from "./sources.js";

/** @typedef {import('./types.js').WebRTCCallOptions} WebRTCCallOptions */
/** @typedef {import('./types.js').WebRTCClientCallbacks} WebRTCClientCallbacks */
/** @typedef {import('./types.js').WebRTCConnectionState} WebRTCConnectionState */
/** @typedef {import('./types.js').WebRTCCallSnapshot} WebRTCCallSnapshot */
/** @typedef {import('./types.js').DataChannelConfig} DataChannelConfig */
/** @typedef {import('./types.js').ConnectionQualitySummary} ConnectionQualitySummary */
/** @typedef {import('./types.js').RecordingOptions} RecordingOptions */
/** @typedef {import('./types.js').RecordingHandle} RecordingHandle */
/** @typedef {import('./types.js').TrackSource} TrackSource */
/** @typedef {import('./types.js').PeerMediaState} PeerMediaState */
/** @typedef {import('./types.js').ServerMessage} ServerMessage */
/** @typedef {import('./types.js').JoinedMessage} JoinedMessage */
/** @typedef {import('./types.js').ErrorMessage} ErrorMessage */
/** @typedef {import('./types.js').MediaDevices} CallDevices */
/** @typedef {import('./types.js').ConnectionReport} ConnectionReport */
/** @typedef {import('./types.js').ConnectionTestOptions} ConnectionTestOptions */

export { DEFAULT_ICE_SERVERS } from "./ice.js";
export { PING_INTERVAL } from "./connection.js";
/** Signaling messages kept for peers while the socket is down (sent on resume). */
const MAX_OUTBOX = 1000;
/** A bitrate needs two stats samples, at least SAMPLE_GAP ms apart; one older than SAMPLE_MAX_AGE is not used. */
const SAMPLE_MAX_AGE = 5000;
const SAMPLE_GAP = 250;

const DEFAULTS = {
  autoConnect: true,
  autoReconnect: true,
  maxReconnectAttempts: 5,
  connectionTimeout: 30000,
  iceGatheringTimeout: 10000,
};

/**
 * @param {WebRTCCallOptions} options
 * @returns {WebRTCCallOptions & typeof DEFAULTS}
 */
function withDefaults(options) {
  if (!options || typeof options.roomId !== "string" || !ROOM_ID.test(options.roomId)) {
    throw new TypeError("roomId must be 1 to 128 letters, digits, or any of - _ . : (not dots alone)");
  }
  if (typeof options.signalUrl !== "string" || !options.signalUrl) {
    throw new TypeError("signalUrl must be a non-empty string");
  }
  signalingUrl(options.signalUrl, options.roomId); // throws now, not at connect(), for a URL that cannot work
  /** @type {Record<string, unknown>} */
  const given = {};
  for (const [key, value] of Object.entries(options)) if (value !== undefined) given[key] = value;
  return /** @type {any} */ ({ ...DEFAULTS, ...given });
}

/** @param {unknown} a @param {unknown} b */
const sameJSON = (a, b) => a === b || JSON.stringify(a) === JSON.stringify(b);

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {unknown} error */
const asError = (error) => (error instanceof Error ? error : new Error(String(error)));

/** @param {unknown} value @returns {value is Record<string, any>} */
const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);

/** getUserMedia's refusals that another set of constraints may get around (denied, missing, busy, unfit). */
const DEVICE_ERRORS = new Set([
  "NotAllowedError",
  "NotFoundError",
  "NotReadableError",
  "OverconstrainedError",
  "AbortError",
]);

/** @param {unknown} error */
const deviceProblem = (error) => {
  const name = /** @type {any} */ (error)?.name;
  if (name === "NotAllowedError") return "permission was denied";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "there is no such device";
  return "the device is busy or failed";
};

/**
 * The local media of a call. Camera and microphone asked for together and refused (denied, missing, busy) fall
 * back to the microphone alone, then to receiving only: the call goes on, and `fallback` says why.
 * @param {TrackSource | null} source
 * @returns {Promise<{ source: TrackSource | null, stream: MediaStream | null, fallback: WebRTCCallError | null }>}
 */
async function acquireMedia(source) {
  if (!source) return { source: null, stream: null, fallback: null };
  try {
    return { source, stream: await source.getStream(), fallback: null };
  } catch (error) {
    const constraints =
      source instanceof UserMediaSource ? /** @type {MediaStreamConstraints} */ (source.constraints) : null;
    if (!constraints || !DEVICE_ERRORS.has(/** @type {any} */ (error)?.name)) throw error;
    if (constraints.video && constraints.audio) {
      const audioOnly = new UserMediaSource({ audio: constraints.audio });
      try {
        const stream = await audioOnly.getStream();
        const why = deviceProblem(error);
        return {
          source: audioOnly,
          stream,
          fallback: new WebRTCCallError(
            "camera-unavailable",
            `Your camera could not be used (${why}): you joined with audio only.`,
            { cause: error },
          ),
        };
      } catch {
        // Neither: receive only.
      }
    }
    return {
      source: null,
      stream: null,
      fallback: new WebRTCCallError(
        "media-unavailable",
        `Your camera and microphone could not be used (${deviceProblem(error)}): you can see and hear the others, they cannot see or hear you.`,
        { cause: error },
      ),
    };
  }
}

export class WebRTCCall {
  /** @param {WebRTCCallOptions} options */
  constructor(options) {
    this.options = withDefaults(options);
    /** @type {Set<() => void>} */
    this.listeners = new Set();
    /** @type {Map<string, PeerLink>} the connection with each remote peer, in a mesh room */
    this.links = new Map();
    /** @type {SfuSession | null} the two connections with the SFU, in an SFU room (extension) */
    this.sfu = null;
    /** @type {Map<string, { at: number, bytes: Record<string, number>, takenAt: number }>} per peer, in an SFU room */
    this.sfuSamples = new Map();
    /** Members of the room other than us, in the order we learnt of them. @type {Set<string>} */
    this.remotePeers = new Set();
    /** @type {Map<string, MediaStream>} */
    this.remoteStreams = new Map();
    /** @type {Map<string, import('./adaptive.js').VideoQuality>} the layer wanted of each peer's video (SFU rooms) */
    this.remoteVideoQualities = new Map();
    /** Peers here that are not participants (`recorder`, `agent`, `viewer`), by id; replaced, never changed in place. */
    /** @type {Map<string, string>} */
    this.peerRoles = new Map();
    /** Our own role (`viewer`, `recorder`, `agent`; extension), as of our last `joined`; null: a participant. */
    /** @type {string | null} */
    this.role = null;
    /** @type {SignalingConnection | null} */
    this.connection = null;
    /** Bumped by connect() and hangup(): async work of an older session stops when it sees a newer one. */
    this.session = 0;
    this.active = false;
    /** @type {string | null} */
    this.peerId = null;
    /** @type {string | null} */
    this.resumeToken = null;
    /** @type {RTCIceServer[] | null} */
    this.serverIceServers = null;
    /** @type {number | null} */
    this.maxPeers = null;
    /** @type {Record<string, unknown>[]} */
    this.outbox = [];
    /** Our metadata (`options.metadata`, then setMetadata()), as the server last told us (it may vouch a name). */
    /** @type {Record<string, unknown>} */
    this.metadata = { ...(this.options.metadata ?? {}) };
    /** Each remote peer's metadata and media state, by id; replaced, never changed in place. */
    /** @type {Map<string, Record<string, unknown>>} */
    this.peerMetadata = new Map();
    /** @type {Map<string, PeerMediaState>} */
    this.peerMedia = new Map();
    /** @type {'audio-only' | 'receive-only' | null} what the call fell back to when a device could not be used */
    this.mediaFallback = null;
    /** @type {CallDevices} the devices in use, by kind */
    this.devices = { audioinput: null, videoinput: null };
    this.speakers = new SpeakerDetector(this);
    /** Local tracks whose end (an unplugged device) is handled. @type {WeakSet<MediaStreamTrack>} */
    this.watchedTracks = new WeakSet();
    /** @type {string | null} */
    this.activeSpeakerId = null;
    /** @type {TrackSource | null} */
    this.source = null;
    /** @type {MediaStream | null} */
    this.localStream = null;
    /** @type {MediaStream | null} */
    this.screenStream = null;
    this.audioMuted = false;
    this.videoMuted = false;
    /** @type {Error | null} */
    this.error = null;
    /** @type {Map<string, RecordingHandle>} */
    this.recordings = new Map();
    /** @type {DataChannelConfig[]} */
    this.channelConfigs = [...(this.options.dataChannels ?? [])];
    /** @type {Set<HTMLVideoElement>} */
    this.localVideos = new Set();
    /** @type {WebRTCCallSnapshot} */
    this.snapshot = this.buildSnapshot();
    if (this.options.autoConnect) void this.connect();
  }

  // --- Observing -----------------------------------------------------------------------------------------------

  /**
   * Call `listener` after every change of the snapshot.
   * @param {() => void} listener
   * @returns {() => void} unsubscribe
   */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** @returns {WebRTCCallSnapshot} the same object until something changes */
  getSnapshot() {
    return this.snapshot;
  }

  get state() {
    return this.snapshot.state;
  }

  /** In the room: the signaling connection's `joined` has arrived (and no drop since). */
  get joined() {
    return this.connection?.state === "joined";
  }

  get remotePeerIds() {
    return this.snapshot.remotePeerIds;
  }

  get isDataOnly() {
    return this.options.media === false;
  }

  get isAudioMuted() {
    return this.audioMuted;
  }

  get isVideoMuted() {
    return this.videoMuted;
  }

  /** True once the screen is being sent (the snapshot's value: it changes when the tracks have been swapped). */
  get isScreenSharing() {
    return this.snapshot.isScreenSharing;
  }

  /**
   * New options from the page (the hook passes every render's). Nothing is torn down: callbacks take effect at
   * once, new data channel labels are opened, new ICE servers apply to every connection; `media`, `roomId` and
   * `signalUrl` apply from the next connect().
   * @param {WebRTCCallOptions} options
   */
  setOptions(options) {
    const next = withDefaults(options);
    const previous = this.options;
    this.options = next;
    for (const config of next.dataChannels ?? []) {
      if (!this.channelConfigs.some((known) => known.label === config.label)) this.createDataChannel(config);
    }
    if (next.metadata && !sameJSON(previous.metadata, next.metadata)) this.setMetadata(next.metadata);
    if (!sameJSON(previous.iceServers, next.iceServers)) this.useIceServers(this.iceServers());
  }

  /**
   * New ICE servers from the server (fresh TURN credentials): every connection takes them, and one that relays
   * through TURN moves onto them (see PeerLink.useIceServers). The page's own `iceServers` option wins.
   * @param {RTCIceServer[]} servers
   */
  useServerIceServers(servers) {
    this.serverIceServers = servers;
    if (!this.options.iceServers) this.useIceServers(servers);
  }

  /** @param {RTCIceServer[]} servers what every connection uses from now on */
  useIceServers(servers) {
    for (const link of this.links.values()) void link.useIceServers(servers);
    void this.sfu?.useIceServers(servers);
  }

  /**
   * Test this browser's connection to a site (extension): its signaling socket, STUN, TURN over UDP, TCP and
   * TLS, and media through the relay, each with a message a user can act on. Needs no call, camera or microphone.
   * @param {ConnectionTestOptions} options
   * @returns {Promise<ConnectionReport>}
   */
  static testConnection(options) {
    return testConnection(options);
  }

  /**
   * Send a connection test's results to the site's support staff (the admin lists them); resolves with the
   * reference they are kept under.
   * @param {{ signalUrl: string, timeout?: number }} options
   * @param {ConnectionReport} report
   */
  static sendConnectionReport(options, report) {
    return sendConnectionReport(options, report);
  }

  /**
   * The connection test against this call's server, with its ICE servers when the page names them.
   * @param {Partial<ConnectionTestOptions>} [options]
   * @returns {Promise<ConnectionReport>}
   */
  testConnection(options = {}) {
    return testConnection({ signalUrl: this.options.signalUrl, iceServers: this.options.iceServers, ...options });
  }

  /**
   * @param {ConnectionReport} report
   * @returns {Promise<{ id: string }>}
   */
  sendConnectionReport(report) {
    return sendConnectionReport({ signalUrl: this.options.signalUrl }, report);
  }

  /** @returns {RTCIceServer[]} */
  iceServers() {
    return this.options.iceServers ?? this.serverIceServers ?? DEFAULT_ICE_SERVERS;
  }

  /**
   * @template {keyof WebRTCClientCallbacks} K
   * @param {K} name
   * @param {Parameters<WebRTCClientCallbacks[K]>} args
   */
  emit(name, ...args) {
    const callback = /** @type {((...a: unknown[]) => void) | undefined} */ (this.options.callbacks?.[name]);
    if (!callback) return;
    try {
      callback(...args);
    } catch (error) {
      console.error(`WebRTCCall ${name} callback failed`, error);
    }
  }

  /** @returns {WebRTCConnectionState} */
  computeState() {
    if (!this.active) return "idle";
    for (const link of this.links.values()) if (link.isConnected) return "connected";
    if (this.sfu?.isConnected) return "connected";
    if (!this.joined) return "connecting";
    return this.remotePeers.size ? "negotiating" : "signaling";
  }

  /** @returns {WebRTCCallSnapshot} */
  buildSnapshot() {
    return Object.freeze({
      state: this.computeState(),
      error: this.error,
      peerId: this.peerId,
      remotePeerIds: [...this.remotePeers],
      remoteStreams: this.remoteStreams,
      localStream: this.localStream,
      isDataOnly: this.isDataOnly,
      isAudioMuted: this.audioMuted,
      isVideoMuted: this.videoMuted,
      isScreenSharing: this.screenStream !== null,
      reconnectAttempt: this.connection?.attempt ?? 0,
      connectionState: this.connection?.state ?? "idle",
      metadata: this.metadata,
      peerMetadata: this.peerMetadata,
      peerMedia: this.peerMedia,
      activeSpeakerId: this.activeSpeakerId,
      mediaFallback: this.mediaFallback,
      devices: this.devices,
      recordingStreamIds: [...this.recordings.keys()],
      maxPeers: this.maxPeers,
      peerRoles: this.peerRoles,
      isRecordedByServer: [...this.peerRoles.values()].includes("recorder"),
    });
  }

  /** Take a new snapshot if anything changed, and tell whoever listens. */
  update() {
    const previous = this.snapshot;
    const next = this.buildSnapshot();
    const changed = Object.keys(next).some((key) => {
      const a = /** @type {any} */ (previous)[key];
      const b = /** @type {any} */ (next)[key];
      return Array.isArray(a) ? a.join("\n") !== b.join("\n") : a !== b;
    });
    if (!changed) return;
    this.snapshot = next;
    if (next.state !== previous.state) this.emit("onStateChange", next.state, previous.state);
    for (const listener of [...this.listeners]) listener();
  }

  /** @param {unknown} error */
  report(error) {
    this.error = asError(error);
    this.emit("onError", this.error, this.computeState());
    this.update();
  }

  // --- Joining and leaving -------------------------------------------------------------------------------------

  /** Acquire the local media (unless data-only), open the signaling socket and join the room. */
  async connect() {
    if (this.active) return;
    this.active = true;
    const session = ++this.session;
    this.error = null;
    this.mediaFallback = null;
    this.channelConfigs = [...(this.options.dataChannels ?? [])];
    this.update();
    if (this.options.media !== false) {
      /** @type {{ source: TrackSource | null, stream: MediaStream | null, fallback: WebRTCCallError | null }} */
      let acquired;
      try {
        acquired = await acquireMedia(sourceOf(this.options.media));
      } catch (error) {
        if (session === this.session) this.end(asError(error));
        return;
      }
      if (session !== this.session) {
        acquired.source?.stop();
        return;
      }
      this.source = acquired.source;
      this.localStream = acquired.stream;
      this.watchLocalTracks();
      this.noteDevices();
      this.applyMute();
      this.refreshLocalVideos();
      if (this.localStream) this.emit("onLocalStream", this.localStream);
      if (acquired.fallback) {
        this.mediaFallback = acquired.fallback.code === "camera-unavailable" ? "audio-only" : "receive-only";
        this.report(acquired.fallback);
      }
    }
    this.openConnection(session);
  }

  /** @param {number} session */
  openConnection(session) {
    if (session !== this.session || !this.active) return;
    this.connection = new SignalingConnection({
      url: () => signalingUrl(this.options.signalUrl, this.options.roomId),
      joinMessage: () => this.joinMessage(),
      connectionTimeout: this.options.connectionTimeout,
      autoReconnect: this.options.autoReconnect,
      maxReconnectAttempts: this.options.maxReconnectAttempts,
      events: {
        onMessage: (message) => this.onSignal(message),
        onStateChange: () => this.update(),
        onReconnecting: (attempt) => {
          this.emit("onReconnecting", attempt);
          this.update();
        },
        onEnd: (error) => {
          if (error.code === "reconnect-failed") this.emit("onReconnectFailed");
          this.end(error);
        },
      },
    });
    this.connection.start();
  }

  /** @returns {Record<string, unknown>} the `join` for a new socket: a resume when we have a place to take back */
  joinMessage() {
    /** @type {Record<string, unknown>} */
    // Extension: this client can take part in an SFU room (a server of Agentuity's protocol ignores the field).
    const join = {
      t: "join",
      roomId: this.options.roomId,
      media: this.mediaState(),
      capabilities: ["sfu", "sfu-move"],
    };
    if (Object.keys(this.metadata).length) join.metadata = this.metadata;
    if (this.resumeToken) join.resume = this.resumeToken;
    return join;
  }

  /**
   * Extension (SFU rooms): receive `peerId`'s video at `quality`: a simulcast layer ("high", "medium", "low"), or
   * "off" (none at all, for a tile that is not shown). Kept while the peer is in the room, across moves to another
   * SFU node and reconnections. In a mesh room every video comes whole: nothing changes.
   * @param {string} peerId
   * @param {import('./adaptive.js').VideoQuality} quality
   */
  setRemoteVideoQuality(peerId, quality) {
    if (!VIDEO_QUALITIES.includes(quality)) throw new TypeError(`quality must be one of ${VIDEO_QUALITIES.join(", ")}`);
    this.remoteVideoQualities.set(peerId, quality);
    this.sfu?.setQuality(peerId, quality);
  }

  /**
   * Extension (SFU rooms, adaptive video): receive `peerId`'s video at the layer the size `element` is shown at
   * calls for, and none while it is hidden (scrolled away, not displayed, the page in the background).
   * @param {string} peerId
   * @param {Element} element the peer's <video>
   * @returns {() => void} stops watching (call it when the element goes)
   */
  observeRemoteVideo(peerId, element) {
    return watchVideoElement(element, (quality) => {
      if (this.remotePeers.has(peerId)) this.setRemoteVideoQuality(peerId, quality);
    });
  }

  /** Leave the room and release the camera, microphone and screen. Recordings go on until stopped. */
  hangup() {
    if (!this.active) return;
    this.session += 1;
    this.active = false;
    this.connection?.stop();
    this.connection = null;
    this.speakers.stop();
    this.activeSpeakerId = null;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.sfu?.close();
    this.sfu = null;
    this.sfuSamples.clear();
    this.remotePeers.clear();
    this.remoteStreams = new Map();
    this.peerRoles = new Map();
    this.peerMetadata = new Map();
    this.peerMedia = new Map();
    this.outbox = [];
    this.peerId = null;
    this.resumeToken = null;
    this.screenStream?.getTracks().forEach((track) => track.stop());
    this.screenStream = null;
    this.source?.stop();
    this.source = null;
    this.localStream = null;
    this.refreshLocalVideos();
    this.update();
  }

  /** Hang up and stop telling listeners: for a page or component that goes away. */
  destroy() {
    this.hangup();
    this.listeners.clear();
  }

  /**
   * End the call because of `error` (a refused join, a closed room, reconnection given up).
   * @param {Error} error
   */
  end(error) {
    this.hangup();
    this.report(error);
  }

  // --- Signaling messages --------------------------------------------------------------------------------------

  /**
   * One frame of the server. Typed as the protocol says it is; checked as what it may be (any client can be the
   * other end of a relay, so nothing in a frame is trusted to have the declared type).
   * @param {ServerMessage} message
   */
  onSignal(message) {
    switch (message.t) {
      case "joined":
        this.onJoined(message);
        break;
      case "peer-joined":
        if (typeof message.peerId === "string") {
          if (typeof message.role === "string") this.setRole(message.peerId, message.role);
          this.setPeerState(message.peerId, message.metadata, message.media);
          this.addPeer(message.peerId);
        }
        break;
      case "peer-updated":
        if (typeof message.peerId === "string" && this.remotePeers.has(message.peerId)) {
          this.setPeerState(message.peerId, message.metadata, message.media);
          this.emit("onPeerUpdated", message.peerId, {
            metadata: this.peerMetadata.get(message.peerId) ?? {},
            media: this.peerMedia.get(message.peerId) ?? null,
          });
          this.update();
        }
        break;
      case "peer-left":
        if (typeof message.peerId === "string") this.removePeer(message.peerId, message.reason ?? "disconnect");
        break;
      case "ice-servers":
        // Extension: fresh TURN credentials, before ours expire (a relayed path must refresh with valid ones).
        if (Array.isArray(message.iceServers)) this.useServerIceServers(message.iceServers);
        break;
      case "sdp":
        if (typeof message.from === "string" && message.description) {
          this.linkWith(message.from).handleDescription(message.description);
        }
        break;
      case "ice":
        if (typeof message.from === "string" && message.candidate) {
          this.linkWith(message.from).handleCandidate(message.candidate);
        }
        break;
      case "error":
        this.onServerError(message);
        break;
      case "sfu-published":
        if (message.description) void this.sfu?.handlePublished(message.description);
        break;
      case "sfu-moved":
        // Extension: the room moved to another SFU node (its node went down, or was drained): our connections with
        // the SFU are gone. New ones publish and subscribe again; our place in the room is the same.
        if (this.sfu) {
          this.sfu.close();
          // What we send from here on is of the new connections: the server drops what came before this.
          this.signal({ t: "sfu-move-taken" });
          this.startSfu(false);
          this.emit("onSfuMoved");
        }
        break;
      case "sfu-subscription":
        if (message.description && Array.isArray(message.streams)) {
          this.sfu?.handleSubscription(message.description, message.streams, message.fresh === true);
        }
        break;
      case "data":
        // Extension: a data-channel message of an SFU room, relayed by the server.
        if (this.sfu && typeof message.from === "string" && typeof message.label === "string") {
          const data = dataOf(message);
          if (data !== null) this.emit("onDataChannelMessage", message.from, message.label, data);
        }
        break;
      default:
        // pong, closed (the connection reads its reason), and message types of newer servers.
        break;
    }
  }

  /** @param {JoinedMessage} message */
  onJoined(message) {
    const connection = this.connection;
    if (!connection) return;
    const peers = /** @type {string[]} */ (
      (Array.isArray(message.peers) ? message.peers : []).filter((/** @type {unknown} */ id) => typeof id === "string")
    );
    const resumed = this.peerId !== null && message.peerId === this.peerId;
    const wasReconnecting = connection.joined();
    // Extension: which peers here are recorders, agents or viewers (a server of Agentuity's protocol sends none).
    /** @type {Map<string, string>} */
    const roles = new Map();
    if (message.roles && typeof message.roles === "object") {
      for (const [id, role] of Object.entries(message.roles)) if (typeof role === "string") roles.set(id, role);
    }
    this.peerRoles = roles;
    this.role = typeof message.role === "string" ? message.role : null;
    this.resumeToken = typeof message.resume === "string" ? message.resume : null;
    const iceServers = Array.isArray(message.iceServers) ? message.iceServers : null;
    if (resumed && iceServers && !sameJSON(iceServers, this.serverIceServers)) this.useServerIceServers(iceServers);
    else this.serverIceServers = iceServers;
    this.maxPeers = typeof message.maxPeers === "number" ? message.maxPeers : null;
    // Extension: every member's metadata and media state (a server of Agentuity's protocol sends neither).
    const metadata = isObject(message.metadata) ? message.metadata : {};
    const media = isObject(message.media) ? message.media : {};
    this.peerMetadata = new Map();
    this.peerMedia = new Map();
    for (const id of peers) this.setPeerState(id, metadata[id], media[id]);
    if (isObject(metadata[message.peerId])) this.metadata = metadata[message.peerId];
    if (resumed) {
      // Same place in the room: our connections live on. Catch up on who came and went meanwhile.
      for (const id of [...this.remotePeers]) if (!peers.includes(id)) this.removePeer(id, "disconnect");
      for (const id of peers) this.addPeer(id);
      if (message.topology === "sfu" && message.sfuSession !== "kept") {
        // Extension: the server could not keep our session with the SFU (it had ended it): publish and subscribe anew.
        this.sfu?.close();
        this.startSfu();
      }
      const waiting = this.outbox;
      this.outbox = [];
      for (const queued of waiting) connection.send(queued);
    } else {
      // A new membership (first join, or the old place was given up): the others know us under a new id.
      for (const id of [...this.remotePeers]) this.removePeer(id, "disconnect");
      this.outbox = [];
      this.peerId = message.peerId;
      this.sfu?.close();
      this.sfu = null;
      if (message.topology === "sfu") {
        // Extension: the room's media goes through the SFU: two connections with it, none with the peers.
        for (const id of peers) this.addPeer(id);
        this.startSfu();
      } else {
        for (const id of peers) {
          this.addPeer(id);
          this.linkWith(id, true);
        }
      }
    }
    // What changed while we were away (a mute, a new name) is told now; a resumed place kept the rest.
    const own = isObject(media[message.peerId]) ? media[message.peerId] : null;
    if (resumed && own && !sameJSON(own, { ...own, ...this.mediaState() })) {
      connection.send({ t: "update", media: this.mediaState() });
    }
    this.speakers.start();
    if (wasReconnecting) this.emit("onReconnected");
    this.emit("onJoined", message.peerId, message.roomId);
    this.update();
  }

  /** @param {ErrorMessage} message */
  onServerError(message) {
    const text = typeof message.message === "string" ? message.message : "Signaling error";
    // Servers of Agentuity's protocol send no code: their join refusals are known by their text.
    const code =
      typeof message.code === "string" ? message.code : text.startsWith("Room is full") ? "room-full" : "error";
    const error = new WebRTCCallError(code, text);
    if (this.joined) {
      this.report(error);
    } else if (
      code === "internal" ||
      code === "sfu-unavailable" ||
      code === "rate-limited" ||
      (code === "room-full" && this.resumeToken !== null && (this.connection?.attempt ?? 0) > 0)
    ) {
      // The server could not reach its registry or its SFU, or this address joined too often: try again later, as after a
      // drop (with backoff). A full room met while coming back is this peer's own seat not yet freed (its old
      // socket's worker has not let go): keep trying within the attempts.
      this.connection?.retryLater();
      this.report(error);
    } else {
      // A refused join (room full or closed, forbidden, a bad room id): trying again would not help.
      this.end(error);
    }
  }

  /**
   * @param {string} peerId
   * @param {string} role
   */
  setRole(peerId, role) {
    if (this.peerRoles.get(peerId) === role) return;
    this.peerRoles = new Map(this.peerRoles).set(peerId, role);
  }

  /**
   * A remote peer's metadata and media state, as far as a frame tells them (absent parts are kept).
   * @param {string} peerId
   * @param {unknown} metadata
   * @param {unknown} media
   */
  setPeerState(peerId, metadata, media) {
    if (isObject(metadata) && !sameJSON(this.peerMetadata.get(peerId), metadata)) {
      this.peerMetadata = new Map(this.peerMetadata).set(peerId, metadata);
    }
    if (isObject(media)) {
      /** @type {PeerMediaState} */
      const state = {
        audio: media.audio === true,
        video: media.video === true,
        screen: media.screen === true,
        recording: media.recording === true,
      };
      if (!sameJSON(this.peerMedia.get(peerId), state)) this.peerMedia = new Map(this.peerMedia).set(peerId, state);
    }
  }

  /**
   * Change our metadata (a new display name, say): the others get `peer-updated`. Where the server vouches for
   * fields (a logged-in user's name), those stay the server's.
   * @param {Record<string, unknown>} metadata
   */
  setMetadata(metadata) {
    if (!isObject(metadata)) throw new TypeError("metadata must be an object");
    this.metadata = { ...metadata };
    if (this.joined) this.connection?.send({ t: "update", metadata: this.metadata });
    this.update();
  }

  /** @returns {PeerMediaState} what we send now, as the others should show it */
  mediaState() {
    const audio = this.localStream?.getAudioTracks().some((track) => track.readyState === "live") ?? false;
    const video = this.localStream?.getVideoTracks().some((track) => track.readyState === "live") ?? false;
    return {
      audio: audio && !this.audioMuted,
      video: video && !this.videoMuted,
      screen: this.screenStream !== null,
      recording: this.recordings.size > 0,
    };
  }

  /** Tell the room our media state changed (mute, camera, screen, recording). */
  announceMedia() {
    if (this.joined) this.connection?.send({ t: "update", media: this.mediaState() });
  }

  /** @param {string} peerId */
  addPeer(peerId) {
    if (peerId === this.peerId || this.remotePeers.has(peerId)) return;
    this.remotePeers.add(peerId);
    this.emit("onPeerJoined", peerId);
    // In an SFU room the server relays data: a channel with a peer is open as soon as it is here.
    if (this.sfu) for (const config of this.channelConfigs) this.emit("onDataChannelOpen", peerId, config.label);
    this.update();
  }

  /**
   * @param {string} peerId
   * @param {string} reason
   */
  removePeer(peerId, reason) {
    if (!this.remotePeers.delete(peerId)) return;
    this.remoteVideoQualities.delete(peerId);
    if (this.peerRoles.has(peerId)) {
      this.peerRoles = new Map(this.peerRoles);
      this.peerRoles.delete(peerId);
    }
    if (this.peerMetadata.has(peerId)) {
      this.peerMetadata = new Map(this.peerMetadata);
      this.peerMetadata.delete(peerId);
    }
    if (this.peerMedia.has(peerId)) {
      this.peerMedia = new Map(this.peerMedia);
      this.peerMedia.delete(peerId);
    }
    this.speakers.forget(peerId);
    this.sfu?.forget(peerId);
    this.links.get(peerId)?.close();
    this.links.delete(peerId);
    if (this.remoteStreams.has(peerId)) {
      this.remoteStreams = new Map(this.remoteStreams);
      this.remoteStreams.delete(peerId);
    }
    this.emit("onPeerLeft", peerId, reason);
    this.update();
  }

  /**
   * The connection with `peerId`, made if there is none yet.
   * @param {string} peerId
   * @param {boolean} [initiator] we make the first offer
   * @returns {PeerLink}
   */
  linkWith(peerId, initiator = false) {
    const existing = this.links.get(peerId);
    if (existing) return existing;
    this.addPeer(peerId);
    const link = new PeerLink({
      remoteId: peerId,
      // Agentuity's client's rule (polite = !(myId > theirId)): each side of a pair computes the opposite answer,
      // so exactly one of them yields, also in a pair of this client and Agentuity's.
      polite: this.options.polite ?? !((this.peerId ?? "") > peerId),
      initiator,
      iceServers: this.iceServers(),
      tracks: this.outgoingTracks(),
      stream: this.localStream ?? this.screenStream,
      dataChannels: () => this.channelConfigs,
      connectionTimeout: this.options.connectionTimeout,
      iceGatheringTimeout: this.options.iceGatheringTimeout,
      events: {
        signal: (message) => this.signal(message),
        onRemoteStream: (stream) => {
          this.remoteStreams = new Map(this.remoteStreams).set(peerId, stream);
          this.emit("onRemoteStream", peerId, stream);
          this.update();
        },
        onConnectionStateChange: () => this.update(),
        tellPath: (frame) => this.tellPath(frame),
        onChannelOpen: (label) => this.emit("onDataChannelOpen", peerId, label),
        onChannelClose: (label) => this.emit("onDataChannelClose", peerId, label),
        onChannelMessage: (label, data) => this.emit("onDataChannelMessage", peerId, label, data),
        onError: (error) => this.report(error),
        onIceRestart: () => this.emit("onIceRestart", peerId),
      },
    });
    this.links.set(peerId, link);
    return link;
  }

  /**
   * The media of an SFU room: publish ours, and take every other publisher's as the SFU offers it.
   * @param {boolean} [announceChannels] tell the data channels open (not on a move: they never closed)
   */
  startSfu(announceChannels = true) {
    const sfu = new SfuSession({
      iceServers: this.iceServers(),
      tracks: this.outgoingTracks(),
      // Extension: a viewer receives only (the server refuses its sfu-publish).
      publishes: this.role !== "viewer",
      simulcast: this.options.simulcast !== false,
      qualities: this.remoteVideoQualities,
      events: {
        signal: (message) => this.signal(message),
        onRemoteStream: (peerId, stream) => {
          this.remoteStreams = new Map(this.remoteStreams).set(peerId, stream);
          this.emit("onRemoteStream", peerId, stream);
          this.update();
        },
        onRemoteStreamEnded: (peerId) => {
          if (!this.remoteStreams.has(peerId)) return;
          this.remoteStreams = new Map(this.remoteStreams);
          this.remoteStreams.delete(peerId);
          this.update();
        },
        onConnectionStateChange: () => this.update(),
        onError: (error) => this.report(error),
        onIceRestart: () => this.emit("onIceRestart", "sfu"),
        tellPath: (frame) => this.tellPath(frame),
      },
    });
    this.sfu = sfu;
    void sfu.publish();
    if (!announceChannels) return;
    for (const peerId of this.remotePeers) {
      for (const config of this.channelConfigs) this.emit("onDataChannelOpen", peerId, config.label);
    }
  }

  /** @returns {(PeerLink | SfuSession)[]} every connection that sends our media */
  senders() {
    return this.sfu ? [...this.links.values(), this.sfu] : [...this.links.values()];
  }

  /** @returns {MediaStreamTrack[]} what we send to a new peer: our tracks, the screen instead of the camera */
  outgoingTracks() {
    const tracks = this.localStream?.getTracks() ?? [];
    const screen = this.screenStream?.getVideoTracks()[0];
    if (!screen) return tracks;
    return [...tracks.filter((track) => track.kind !== "video"), screen];
  }

  /**
   * An `sdp` or `ice` message for a peer: sent now, or when the socket is back (a resume keeps the peer).
   * @param {Record<string, unknown>} message
   */
  signal(message) {
    if (this.connection?.isJoined && this.connection.send(message)) return;
    if (this.outbox.length < MAX_OUTBOX) this.outbox.push(message);
  }

  // --- Media ---------------------------------------------------------------------------------------------------

  applyMute() {
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = !this.audioMuted;
    for (const track of this.localStream?.getVideoTracks() ?? []) track.enabled = !this.videoMuted;
  }

  /** @param {boolean} [muted] */
  muteAudio(muted = true) {
    this.audioMuted = Boolean(muted);
    this.applyMute();
    this.announceMedia();
    this.update();
  }

  /** @param {boolean} [muted] */
  muteVideo(muted = true) {
    this.videoMuted = Boolean(muted);
    this.applyMute();
    this.announceMedia();
    this.update();
  }

  // --- Devices -------------------------------------------------------------------------------------------------

  /**
   * The cameras and microphones the browser offers (labels only once the page may use a device).
   * @returns {Promise<{ audioinput: MediaDeviceInfo[], videoinput: MediaDeviceInfo[] }>}
   */
  async getDevices() {
    const all = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
    return {
      audioinput: all.filter((device) => device.kind === "audioinput"),
      videoinput: all.filter((device) => device.kind === "videoinput"),
    };
  }

  noteDevices() {
    const audio = this.localStream?.getAudioTracks()[0]?.getSettings().deviceId ?? null;
    const video = this.localStream?.getVideoTracks()[0]?.getSettings().deviceId ?? null;
    if (audio !== this.devices.audioinput || video !== this.devices.videoinput) {
      this.devices = { audioinput: audio, videoinput: video };
    }
  }

  /**
   * Use another camera or microphone mid-call: every peer gets the new track on the same sender (replaceTrack),
   * so nothing is renegotiated; mute state is kept.
   * @param {"audioinput" | "videoinput"} kind
   * @param {string | null} [deviceId] null or undefined: the default device of that kind
   * @returns {Promise<MediaStreamTrack>}
   */
  async switchDevice(kind, deviceId) {
    if (!this.active) throw new WebRTCCallError("not-connected", "Connect before choosing a device");
    const session = this.session;
    const trackKind = kind === "audioinput" ? "audio" : "video";
    const constraint = deviceId ? { deviceId: { exact: deviceId } } : true;
    /** @type {MediaStream} */
    let captured;
    try {
      captured = await navigator.mediaDevices.getUserMedia(
        trackKind === "audio" ? { audio: constraint } : { video: constraint },
      );
    } catch (error) {
      throw new WebRTCCallError(
        "device-unavailable",
        `That ${trackKind === "audio" ? "microphone" : "camera"} could not be used (${deviceProblem(error)}).`,
        { cause: error },
      );
    }
    const track = trackKind === "audio" ? captured.getAudioTracks()[0] : captured.getVideoTracks()[0];
    if (session !== this.session) {
      track.stop();
      throw new WebRTCCallError("not-connected", "The call ended before the device was switched");
    }
    await this.useLocalTrack(track);
    return track;
  }

  /**
   * Put `track` in place of our track of its kind, on every connection (no renegotiation).
   * @param {MediaStreamTrack} track
   */
  async useLocalTrack(track) {
    const stream = this.localStream ?? new MediaStream();
    const old = (track.kind === "audio" ? stream.getAudioTracks() : stream.getVideoTracks())[0];
    if (old) {
      stream.removeTrack(old);
      old.stop();
    }
    stream.addTrack(track);
    if (!this.localStream) {
      this.localStream = stream;
      this.refreshLocalVideos();
    }
    this.watchLocalTracks();
    this.applyMute();
    if (track.kind === "audio") {
      await Promise.all(this.senders().map((link) => link.replaceAudioTrack(track)));
    } else if (!this.screenStream) {
      await Promise.all(this.senders().map((link) => link.replaceVideoTrack(track, stream)));
    }
    this.noteDevices();
    if (this.mediaFallback === "audio-only" && track.kind === "video") this.mediaFallback = null;
    this.refreshLocalVideos();
    this.announceMedia();
    this.update();
  }

  /** A device unplugged (its track ends): fall back to the default device of its kind, or go on without. */
  watchLocalTracks() {
    for (const track of this.localStream?.getTracks() ?? []) {
      if (this.watchedTracks.has(track)) continue;
      this.watchedTracks.add(track);
      track.addEventListener("ended", () => {
        if (!this.active || !this.localStream?.getTracks().includes(track)) return;
        const kind = track.kind === "audio" ? "audioinput" : "videoinput";
        this.switchDevice(kind, null).catch((error) => {
          this.localStream?.removeTrack(track);
          const links = this.senders();
          if (track.kind === "audio") for (const link of links) void link.replaceAudioTrack(null);
          else if (!this.screenStream) for (const link of links) void link.replaceVideoTrack(null, this.localStream);
          this.noteDevices();
          this.announceMedia();
          this.report(
            new WebRTCCallError(
              "device-lost",
              `Your ${track.kind === "audio" ? "microphone" : "camera"} was disconnected and no other could be used.`,
              { cause: error },
            ),
          );
        });
      });
    }
  }

  // --- Audio levels ---------------------------------------------------------------------------------------------

  /**
   * The last measured audio level (0 to 1) of every peer we hear, and ours under our own peer id.
   * @returns {Map<string, number>}
   */
  getAudioLevels() {
    return new Map(this.speakers.levels);
  }

  /** @param {string | null} peerId */
  setActiveSpeaker(peerId) {
    if (peerId === this.activeSpeakerId) return;
    this.activeSpeakerId = peerId;
    this.emit("onActiveSpeakerChange", peerId);
    this.update();
  }

  /**
   * Show the local preview (the screen while sharing it) in `element`, muted, until detached.
   * @param {HTMLVideoElement} element
   * @returns {() => void} detach
   */
  attachLocalVideo(element) {
    this.localVideos.add(element);
    this.refreshLocalVideos();
    return () => {
      this.localVideos.delete(element);
      if (element.srcObject) element.srcObject = null;
    };
  }

  refreshLocalVideos() {
    const stream = this.screenStream ?? this.localStream;
    for (const element of this.localVideos) {
      element.muted = true;
      if (element.srcObject !== stream) element.srcObject = stream;
    }
  }

  /**
   * Send the screen (the browser asks which) instead of the camera to every peer.
   * @param {DisplayMediaStreamOptions} [constraints]
   * @returns {Promise<MediaStream>}
   */
  async startScreenShare(constraints = { video: true, audio: false }) {
    if (!this.active) throw new WebRTCCallError("not-connected", "Connect before sharing the screen");
    if (this.screenStream) return this.screenStream;
    const session = this.session;
    const stream = await navigator.mediaDevices.getDisplayMedia(constraints);
    const track = stream.getVideoTracks()[0];
    if (session !== this.session || !track) {
      stream.getTracks().forEach((t) => t.stop());
      throw new WebRTCCallError("not-connected", "The call ended before the screen was shared");
    }
    this.screenStream = stream;
    // The browser's own "Stop sharing" button ends the track.
    track.addEventListener("ended", () => {
      if (this.screenStream === stream) void this.stopScreenShare();
    });
    await Promise.all(this.senders().map((link) => link.replaceVideoTrack(track, this.localStream ?? stream)));
    this.refreshLocalVideos();
    this.emit("onScreenShareStart", stream);
    this.announceMedia();
    this.update();
    return stream;
  }

  /** Send the camera again (or no video, without one). */
  async stopScreenShare() {
    const stream = this.screenStream;
    if (!stream) return;
    this.screenStream = null;
    const camera = this.localStream?.getVideoTracks()[0] ?? null;
    await Promise.all(this.senders().map((link) => link.replaceVideoTrack(camera, this.localStream)));
    stream.getTracks().forEach((track) => track.stop());
    this.refreshLocalVideos();
    this.emit("onScreenShareStop");
    this.announceMedia();
    this.update();
  }

  // --- Data channels -------------------------------------------------------------------------------------------

  /**
   * @param {string} label
   * @param {string | ArrayBuffer | ArrayBufferView | Blob} data
   * @returns {number} how many peers it was sent to (those whose channel `label` is open)
   */
  broadcast(label, data) {
    if (this.sfu) return this.sendThroughServer(label, data, null) ? this.remotePeers.size : 0;
    let sent = 0;
    for (const link of this.links.values()) if (link.send(label, data)) sent += 1;
    return sent;
  }

  /**
   * @param {string} peerId
   * @param {string} label
   * @param {string | ArrayBuffer | ArrayBufferView | Blob} data
   * @returns {boolean} whether it was sent (the channel with that peer is open)
   */
  sendTo(peerId, label, data) {
    if (this.sfu) return this.remotePeers.has(peerId) && this.sendThroughServer(label, data, peerId);
    return this.links.get(peerId)?.send(label, data) ?? false;
  }

  /**
   * In an SFU room, data goes through the server (`data` frames): to `to` alone, or to everyone else.
   * @param {string} label
   * @param {string | ArrayBuffer | ArrayBufferView | Blob} data
   * @param {string | null} to
   * @returns {boolean} whether it was handed to the socket (a Blob is read first, then sent)
   */
  sendThroughServer(label, data, to) {
    if (!this.channelConfigs.some((config) => config.label === label) || !this.connection?.isJoined) return false;
    if (data instanceof Blob) {
      void data.arrayBuffer().then((buffer) => this.connection?.send(dataFrame(label, buffer, to)));
      return true;
    }
    return this.connection.send(dataFrame(label, data, to));
  }

  /** @param {string} label @param {string} text @returns {number} peers reached */
  sendString(label, text) {
    return this.broadcast(label, String(text));
  }

  /** @param {string} peerId @param {string} label @param {string} text */
  sendStringTo(peerId, label, text) {
    return this.sendTo(peerId, label, String(text));
  }

  /** Sent as JSON text: the receiver's onDataChannelMessage gets the string. @param {string} label @param {unknown} value */
  sendJSON(label, value) {
    return this.broadcast(label, JSON.stringify(value));
  }

  /** @param {string} peerId @param {string} label @param {unknown} value */
  sendJSONTo(peerId, label, value) {
    return this.sendTo(peerId, label, JSON.stringify(value));
  }

  /** The receiver gets an ArrayBuffer. @param {string} label @param {ArrayBuffer | ArrayBufferView | Blob} data */
  sendBinary(label, data) {
    return this.broadcast(label, data);
  }

  /** @param {string} peerId @param {string} label @param {ArrayBuffer | ArrayBufferView | Blob} data */
  sendBinaryTo(peerId, label, data) {
    return this.sendTo(peerId, label, data);
  }

  /**
   * Open a channel with every peer now and with every peer that comes later.
   * @param {DataChannelConfig} config
   */
  createDataChannel(config) {
    if (!config || typeof config.label !== "string") throw new TypeError("a data channel needs a string label");
    if (!this.channelConfigs.some((known) => known.label === config.label)) this.channelConfigs.push(config);
    for (const link of this.links.values()) {
      if (!link.channels.has(config.label)) link.openChannel(config);
    }
  }

  /**
   * Resolves once the channel `label` with `peerId` has at most `threshold` bytes waiting to be sent: await it
   * between the chunks of a large transfer, so the browser's send buffer never overflows.
   * @param {string} peerId
   * @param {string} label
   * @param {number} [threshold]
   * @returns {Promise<void>}
   */
  whenDrained(peerId, label, threshold = 1024 * 1024) {
    if (this.sfu) return this.connection?.whenDrained(threshold) ?? Promise.resolve();
    return this.links.get(peerId)?.whenDrained(label, threshold) ?? Promise.resolve();
  }

  /** @returns {string[]} the labels configured or opened with any peer */
  getDataChannelLabels() {
    const labels = new Set(this.channelConfigs.map((config) => config.label));
    for (const link of this.links.values()) for (const label of link.channels.keys()) labels.add(label);
    return [...labels];
  }

  /**
   * @param {string} peerId
   * @param {string} label
   * @returns {RTCDataChannelState | null}
   */
  getDataChannelState(peerId, label) {
    if (this.sfu) {
      const here = this.remotePeers.has(peerId) && this.channelConfigs.some((config) => config.label === label);
      return here ? (this.connection?.isJoined ? "open" : "connecting") : null;
    }
    return this.links.get(peerId)?.channelState(label) ?? null;
  }

  /** @param {string} label @returns {boolean} whether a channel of that label existed */
  closeDataChannel(label) {
    const before = this.channelConfigs.length;
    this.channelConfigs = this.channelConfigs.filter((config) => config.label !== label);
    let closed = before !== this.channelConfigs.length;
    for (const link of this.links.values()) closed = link.closeChannel(label) || closed;
    return closed;
  }

  // --- Quality -------------------------------------------------------------------------------------------------

  /**
   * Extension: a connection's media path for the server (`paths.js`), sent only to a server that speaks the
   * extensions (it sent `maxPeers`: Agentuity's does not) while we are in its room.
   * @param {import('./paths.js').PathFrame} frame
   * @returns {boolean} whether it was sent
   */
  tellPath(frame) {
    return this.maxPeers !== null && this.joined && (this.connection?.send(frame) ?? false);
  }

  /**
   * @param {string} peerId
   * @returns {Promise<ConnectionQualitySummary | null>} null when there is no connection with that peer
   */
  async getQualitySummary(peerId) {
    if (this.sfu) return this.sfuQualitySummary(this.sfu, peerId);
    const link = this.links.get(peerId);
    if (!link || link.closed) return null;
    let previous = link.lastSample;
    const age = previous ? Date.now() - previous.takenAt : Infinity;
    if (!previous || age > SAMPLE_MAX_AGE) {
      // Nothing recent to measure bitrates against: take a sample now and the summary's shortly after.
      previous = { ...summarize(await link.pc.getStats(), null).sample, takenAt: Date.now() };
      await sleep(SAMPLE_GAP);
    } else if (age < SAMPLE_GAP) {
      // Too close to the last sample (the browser may even hand back the same stats): wait for a measurable gap.
      await sleep(SAMPLE_GAP - age);
    }
    if (link.closed) return null;
    const { summary, sample } = summarize(await link.pc.getStats(), previous);
    link.lastSample = { ...sample, takenAt: Date.now() };
    return summary;
  }

  /**
   * In an SFU room: what reaches us of `peerId` (its streams on the subscriber connection) and the path to the SFU.
   * @param {SfuSession} sfu
   * @param {string} peerId
   * @returns {Promise<ConnectionQualitySummary | null>}
   */
  async sfuQualitySummary(sfu, peerId) {
    return (await this.sfuQualitySummaries(sfu, [peerId])).get(peerId) ?? null;
  }

  /**
   * In an SFU room: the summaries of `peerIds` (those on the subscription), from one report of the subscriber
   * connection for them all: a report for each would cost a refresh of a room of N peers N reports of N peers'
   * streams.
   * @param {SfuSession} sfu
   * @param {string[]} peerIds
   * @returns {Promise<Map<string, ConnectionQualitySummary>>}
   */
  async sfuQualitySummaries(sfu, peerIds) {
    /** @type {Map<string, ConnectionQualitySummary>} */
    const all = new Map();
    /** @type {Map<string, Set<string>>} */
    const mids = new Map();
    for (const peerId of peerIds) {
      const own = new Set(sfu.midsOf(peerId));
      if (own.size) mids.set(peerId, own);
    }
    if (!mids.size || sfu.closed) return all;
    /** Of the report, what is of `own` streams: theirs among the inbound ones, and the connection's path.
     * @param {RTCStatsReport} report @param {Set<string>} own */
    const of = (report, own) => {
      /** @type {Map<string, any>} */
      const kept = new Map();
      report.forEach((stat, key) => {
        if (stat.type !== "inbound-rtp" || own.has(String(stat.mid))) kept.set(key, stat);
      });
      return /** @type {RTCStatsReport} */ (/** @type {unknown} */ (kept));
    };
    const ageOf = (/** @type {string} */ peerId) => {
      const previous = this.sfuSamples.get(peerId);
      return previous ? Date.now() - previous.takenAt : Infinity;
    };
    const stale = [...mids.keys()].filter((peerId) => ageOf(peerId) > SAMPLE_MAX_AGE);
    if (stale.length) {
      // Nothing recent to measure some bitrates against: a sample now and the summaries shortly after.
      const report = await sfu.subscriber.getStats();
      for (const peerId of stale) {
        this.sfuSamples.set(peerId, {
          ...summarize(of(report, mids.get(peerId) ?? new Set()), null).sample,
          takenAt: Date.now(),
        });
      }
      await sleep(SAMPLE_GAP);
    } else {
      // Too close to the last sample for a bitrate: wait for a measurable gap, as for a mesh peer.
      const youngest = Math.min(...[...mids.keys()].map(ageOf));
      if (youngest < SAMPLE_GAP) await sleep(SAMPLE_GAP - youngest);
    }
    if (sfu.closed) return all;
    const report = await sfu.subscriber.getStats();
    for (const [peerId, own] of mids) {
      const { summary, sample } = summarize(of(report, own), this.sfuSamples.get(peerId) ?? null);
      this.sfuSamples.set(peerId, { ...sample, takenAt: Date.now() });
      all.set(peerId, summary);
    }
    return all;
  }

  /** @returns {Promise<Map<string, ConnectionQualitySummary>>} */
  async getAllQualitySummaries() {
    if (this.sfu) return this.sfuQualitySummaries(this.sfu, [...this.remotePeers]);
    const ids = [...this.links.keys()];
    const summaries = await Promise.all(ids.map((id) => this.getQualitySummary(id)));
    /** @type {Map<string, ConnectionQualitySummary>} */
    const all = new Map();
    ids.forEach((id, index) => {
      const summary = summaries[index];
      if (summary) all.set(id, summary);
    });
    return all;
  }

  // --- Recording -----------------------------------------------------------------------------------------------

  /**
   * Record `'local'` (our camera and microphone) or a remote peer's stream.
   * @param {string} streamId
   * @param {RecordingOptions} [options]
   * @returns {RecordingHandle | null} null when there is no such stream or no MIME type fits it
   */
  startRecording(streamId, options = {}) {
    const current = this.recordings.get(streamId);
    if (current && current.state !== "inactive") return current;
    const stream = streamId === "local" ? this.localStream : this.remoteStreams.get(streamId);
    if (!stream) return null;
    /** @type {RecordingHandle | null} */
    const handle = startRecording(streamId, stream, options, () => {
      if (this.recordings.get(streamId) === handle) {
        this.recordings.delete(streamId);
        this.announceMedia();
        this.update();
      }
    });
    if (handle) {
      this.recordings.set(streamId, handle);
      this.announceMedia();
      this.update();
    }
    return handle;
  }

  /** @param {string} streamId */
  isRecording(streamId) {
    const handle = this.recordings.get(streamId);
    return handle !== undefined && handle.state !== "inactive";
  }

  /** @returns {Promise<Map<string, Blob>>} every recording's data, by stream id */
  async stopAllRecordings() {
    const handles = [...this.recordings.entries()];
    const blobs = await Promise.all(handles.map(([, handle]) => handle.stop()));
    return new Map(handles.map(([streamId], index) => [streamId, blobs[index]]));
  }
}
