// WebRTCCall: one browser's part in a mesh call, framework-free. The React hook (react.js) wraps it.

import { reconnectDelay } from "./backoff.js";
import { PeerLink } from "./peer.js";
import { summarize } from "./quality.js";
import { startRecording } from "./recording.js";
import { FINAL_CLOSE_CODES, SERVICE_RESTART, SignalingSocket, WebRTCCallError, signalingUrl } from "./signaling.js";
import { sourceOf } from "./sources.js";

/** @typedef {import('./types.js').WebRTCCallOptions} WebRTCCallOptions */
/** @typedef {import('./types.js').WebRTCClientCallbacks} WebRTCClientCallbacks */
/** @typedef {import('./types.js').WebRTCConnectionState} WebRTCConnectionState */
/** @typedef {import('./types.js').WebRTCCallSnapshot} WebRTCCallSnapshot */
/** @typedef {import('./types.js').DataChannelConfig} DataChannelConfig */
/** @typedef {import('./types.js').ConnectionQualitySummary} ConnectionQualitySummary */
/** @typedef {import('./types.js').RecordingOptions} RecordingOptions */
/** @typedef {import('./types.js').RecordingHandle} RecordingHandle */
/** @typedef {import('./types.js').TrackSource} TrackSource */

/** Used when neither the options nor the server name ICE servers. */
export const DEFAULT_ICE_SERVERS = [{ urls: "stun:stun.l.google.com:19302" }];
/** Keep-alive period of the signaling socket; one silent for two periods and a half is taken for dead. */
export const PING_INTERVAL = 15000;
/** Signaling messages kept for peers while the socket is down (sent on resume). */
const MAX_OUTBOX = 1000;
/** A bitrate needs two stats samples, at least SAMPLE_GAP ms apart; one older than SAMPLE_MAX_AGE is not used. */
const SAMPLE_MAX_AGE = 5000;
const SAMPLE_GAP = 250;

/** The room ids the server accepts (signaling/protocol.py). */
const ROOM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

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
    throw new TypeError("roomId must be 1 to 128 letters, digits, or any of - _ . :");
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

export class WebRTCCall {
  /** @param {WebRTCCallOptions} options */
  constructor(options) {
    this.options = withDefaults(options);
    /** @type {Set<() => void>} */
    this.listeners = new Set();
    /** @type {Map<string, PeerLink>} */
    this.links = new Map();
    /** Members of the room other than us, in the order we learnt of them. @type {Set<string>} */
    this.remotePeers = new Set();
    /** @type {Map<string, MediaStream>} */
    this.remoteStreams = new Map();
    /** Peers here that are not participants (`recorder`, `agent`), by id; replaced, never changed in place. */
    /** @type {Map<string, string>} */
    this.peerRoles = new Map();
    /** @type {SignalingSocket | null} */
    this.socket = null;
    /** Bumped by connect() and hangup(): async work of an older session stops when it sees a newer one. */
    this.session = 0;
    this.active = false;
    this.joined = false;
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
    this.reconnectAttempt = 0;
    /** @type {string | null} why the server is about to close the socket (`closed.reason`) */
    this.closedReason = null;
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
    /** @type {Record<string, ReturnType<typeof setTimeout> | undefined>} */
    this.timers = {};
    this.lastHeard = 0;
    this.onOnline = () => {
      // Back online: do not wait out the backoff.
      if (this.timers.reconnect !== undefined) {
        this.clearTimer("reconnect");
        this.openSocket(this.session);
      }
    };
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
    if (!sameJSON(previous.iceServers, next.iceServers)) {
      for (const link of this.links.values()) link.pc.setConfiguration({ iceServers: this.iceServers() });
    }
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
      reconnectAttempt: this.reconnectAttempt,
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
    this.reconnectAttempt = 0;
    this.channelConfigs = [...(this.options.dataChannels ?? [])];
    this.update();
    if (this.options.media !== false) {
      /** @type {TrackSource | null} */
      let source = null;
      try {
        source = sourceOf(this.options.media);
        const stream = source ? await source.getStream() : null;
        if (session !== this.session) {
          source?.stop();
          return;
        }
        this.source = source;
        this.localStream = stream;
      } catch (error) {
        if (session === this.session) this.end(asError(error));
        return;
      }
      this.applyMute();
      this.refreshLocalVideos();
      if (this.localStream) this.emit("onLocalStream", this.localStream);
    }
    globalThis.addEventListener?.("online", this.onOnline);
    this.openSocket(session);
  }

  /** Leave the room and release the camera, microphone and screen. Recordings go on until stopped. */
  hangup() {
    if (!this.active) return;
    this.session += 1;
    this.active = false;
    globalThis.removeEventListener?.("online", this.onOnline);
    for (const name of Object.keys(this.timers)) this.clearTimer(name);
    if (this.socket) {
      this.socket.send({ t: "leave" });
      this.socket.close(1000);
      this.socket = null;
    }
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.remotePeers.clear();
    this.remoteStreams = new Map();
    this.peerRoles = new Map();
    this.outbox = [];
    this.joined = false;
    this.peerId = null;
    this.resumeToken = null;
    this.reconnectAttempt = 0;
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

  /** @param {number} session */
  openSocket(session) {
    if (session !== this.session || !this.active) return;
    const url = signalingUrl(this.options.signalUrl, this.options.roomId);
    const socket = new SignalingSocket(url, {
      onMessage: (message) => this.onSignal(socket, message),
      onClose: (event) => this.onSocketClose(socket, event.code),
    });
    this.socket = socket;
    this.joined = false;
    this.closedReason = null;
    this.setTimer("join", this.options.connectionTimeout, () => {
      if (this.socket === socket && !this.joined) {
        socket.close(4000);
        this.onSocketClose(socket, 4000);
      }
    });
    socket.opened().then(
      () => {
        if (this.socket !== socket) return;
        this.lastHeard = Date.now();
        /** @type {Record<string, unknown>} */
        const join = { t: "join", roomId: this.options.roomId };
        if (this.resumeToken) join.resume = this.resumeToken;
        socket.send(join);
        this.keepAlive(socket);
      },
      () => {},
    );
  }

  /** @param {SignalingSocket} socket */
  keepAlive(socket) {
    this.setTimer("ping", PING_INTERVAL, () => {
      if (this.socket !== socket) return;
      if (Date.now() - this.lastHeard > PING_INTERVAL * 2.5) {
        // A half-open connection (a laptop that slept, a NAT that forgot us): the browser may never notice.
        socket.close(4000);
        this.onSocketClose(socket, 4000);
        return;
      }
      socket.send({ t: "ping", ts: Date.now() });
      this.keepAlive(socket);
    });
  }

  /**
   * @param {SignalingSocket} socket
   * @param {number} code
   */
  onSocketClose(socket, code) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.joined = false;
    this.clearTimer("join");
    this.clearTimer("ping");
    const finalCode = FINAL_CLOSE_CODES.get(code);
    if (finalCode) {
      const reason = this.closedReason ?? finalCode;
      this.end(new WebRTCCallError(reason, `The signaling server ended the call (${reason}, close code ${code})`));
    } else if (!this.options.autoReconnect) {
      this.end(new WebRTCCallError("signaling-closed", `The signaling connection closed (code ${code})`));
    } else {
      // 1012 (service restart): the server is going away on purpose and parked this peer; come back at once.
      this.scheduleReconnect(code === SERVICE_RESTART);
    }
  }

  /** @param {boolean} [immediately] make the first attempt without waiting */
  scheduleReconnect(immediately = false) {
    // Attempts count across the whole outage: only a `joined` ends it.
    const attempt = ++this.reconnectAttempt;
    if (attempt > this.options.maxReconnectAttempts) {
      this.emit("onReconnectFailed");
      this.end(
        new WebRTCCallError("reconnect-failed", `Could not reconnect after ${this.options.maxReconnectAttempts} attempts`),
      );
      return;
    }
    this.emit("onReconnecting", attempt);
    this.update();
    const session = this.session;
    const delay = immediately && attempt === 1 ? 0 : reconnectDelay(attempt);
    this.setTimer("reconnect", delay, () => this.openSocket(session));
  }

  // --- Signaling messages --------------------------------------------------------------------------------------

  /**
   * @param {SignalingSocket} socket
   * @param {Record<string, any>} message
   */
  onSignal(socket, message) {
    if (socket !== this.socket) return;
    this.lastHeard = Date.now();
    switch (message.t) {
      case "joined":
        this.onJoined(socket, message);
        break;
      case "peer-joined":
        if (typeof message.peerId === "string") {
          if (typeof message.role === "string") this.setRole(message.peerId, message.role);
          this.addPeer(message.peerId);
        }
        break;
      case "peer-left":
        if (typeof message.peerId === "string") this.removePeer(message.peerId, message.reason ?? "disconnect");
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
        this.onServerError(socket, message);
        break;
      case "closed":
        this.closedReason = typeof message.reason === "string" ? message.reason : null;
        break;
      default:
        // pong, and message types of newer servers.
        break;
    }
  }

  /**
   * @param {SignalingSocket} socket
   * @param {Record<string, any>} message
   */
  onJoined(socket, message) {
    this.clearTimer("join");
    const peers = /** @type {string[]} */ ((Array.isArray(message.peers) ? message.peers : []).filter(
      (/** @type {unknown} */ id) => typeof id === "string",
    ));
    const resumed = this.peerId !== null && message.peerId === this.peerId;
    this.joined = true;
    // Extension: which peers here are recorders or agents (a server of the seed's protocol sends none).
    /** @type {Map<string, string>} */
    const roles = new Map();
    if (message.roles && typeof message.roles === "object") {
      for (const [id, role] of Object.entries(message.roles)) if (typeof role === "string") roles.set(id, role);
    }
    this.peerRoles = roles;
    this.resumeToken = typeof message.resume === "string" ? message.resume : null;
    this.serverIceServers = Array.isArray(message.iceServers) ? message.iceServers : null;
    this.maxPeers = typeof message.maxPeers === "number" ? message.maxPeers : null;
    if (resumed) {
      // Same place in the room: our connections live on. Catch up on who came and went meanwhile.
      for (const id of [...this.remotePeers]) if (!peers.includes(id)) this.removePeer(id, "disconnect");
      for (const id of peers) this.addPeer(id);
      const waiting = this.outbox;
      this.outbox = [];
      for (const queued of waiting) socket.send(queued);
    } else {
      // A new membership (first join, or the old place was given up): the others know us under a new id.
      for (const id of [...this.remotePeers]) this.removePeer(id, "disconnect");
      this.outbox = [];
      this.peerId = message.peerId;
      for (const id of peers) {
        this.addPeer(id);
        this.linkWith(id, true);
      }
    }
    const wasReconnecting = this.reconnectAttempt > 0;
    this.reconnectAttempt = 0;
    if (wasReconnecting) this.emit("onReconnected");
    this.emit("onJoined", message.peerId, message.roomId);
    this.update();
  }

  /**
   * @param {SignalingSocket} socket
   * @param {Record<string, any>} message
   */
  onServerError(socket, message) {
    const text = typeof message.message === "string" ? message.message : "Signaling error";
    // Servers of the seed's protocol send no code: their join refusals are known by their text.
    const code =
      typeof message.code === "string" ? message.code : text.startsWith("Room is full") ? "room-full" : "error";
    const error = new WebRTCCallError(code, text);
    if (this.joined) {
      this.report(error);
    } else if (
      code === "internal" ||
      code === "rate-limited" ||
      (code === "room-full" && this.resumeToken !== null && this.reconnectAttempt > 0)
    ) {
      // The server could not reach its registry, or this address joined too often: try again later, as after a
      // drop (with backoff). A full room met while coming back is this peer's own seat not yet freed (its old
      // socket's worker has not let go): keep trying within the attempts.
      socket.close(4000);
      this.onSocketClose(socket, 4000);
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

  /** @param {string} peerId */
  addPeer(peerId) {
    if (peerId === this.peerId || this.remotePeers.has(peerId)) return;
    this.remotePeers.add(peerId);
    this.emit("onPeerJoined", peerId);
    this.update();
  }

  /**
   * @param {string} peerId
   * @param {string} reason
   */
  removePeer(peerId, reason) {
    if (!this.remotePeers.delete(peerId)) return;
    if (this.peerRoles.has(peerId)) {
      this.peerRoles = new Map(this.peerRoles);
      this.peerRoles.delete(peerId);
    }
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
      // The seed client's rule (polite = !(myId > theirId)): each side of a pair computes the opposite answer,
      // so exactly one of them yields, also in a pair of this client and the seed's.
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
    if (this.socket && this.joined && this.socket.send(message)) return;
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
    this.update();
  }

  /** @param {boolean} [muted] */
  muteVideo(muted = true) {
    this.videoMuted = Boolean(muted);
    this.applyMute();
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
    await Promise.all([...this.links.values()].map((link) => link.replaceVideoTrack(track, this.localStream ?? stream)));
    this.refreshLocalVideos();
    this.emit("onScreenShareStart", stream);
    this.update();
    return stream;
  }

  /** Send the camera again (or no video, without one). */
  async stopScreenShare() {
    const stream = this.screenStream;
    if (!stream) return;
    this.screenStream = null;
    const camera = this.localStream?.getVideoTracks()[0] ?? null;
    await Promise.all([...this.links.values()].map((link) => link.replaceVideoTrack(camera, this.localStream)));
    stream.getTracks().forEach((track) => track.stop());
    this.refreshLocalVideos();
    this.emit("onScreenShareStop");
    this.update();
  }

  // --- Data channels -------------------------------------------------------------------------------------------

  /**
   * @param {string} label
   * @param {string | ArrayBuffer | ArrayBufferView | Blob} data
   * @returns {number} how many peers it was sent to (those whose channel `label` is open)
   */
  broadcast(label, data) {
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
    return this.links.get(peerId)?.send(label, data) ?? false;
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
   * @param {string} peerId
   * @returns {Promise<ConnectionQualitySummary | null>} null when there is no connection with that peer
   */
  async getQualitySummary(peerId) {
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

  /** @returns {Promise<Map<string, ConnectionQualitySummary>>} */
  async getAllQualitySummaries() {
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
        this.update();
      }
    });
    if (handle) {
      this.recordings.set(streamId, handle);
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

  // --- Timers --------------------------------------------------------------------------------------------------

  /**
   * @param {string} name
   * @param {number} delay
   * @param {() => void} action
   */
  setTimer(name, delay, action) {
    this.clearTimer(name);
    this.timers[name] = setTimeout(() => {
      this.timers[name] = undefined;
      action();
    }, delay);
  }

  /** @param {string} name */
  clearTimer(name) {
    clearTimeout(this.timers[name]);
    this.timers[name] = undefined;
  }
}
