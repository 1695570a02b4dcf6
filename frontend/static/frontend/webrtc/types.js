// The client's public types, for TypeScript users and for `tsc --checkJs` (this module exports no values).

/**
 * @typedef {'idle' | 'connecting' | 'signaling' | 'negotiating' | 'connected'} WebRTCConnectionState
 * `idle`: not connected, ready to join. `connecting`: opening the signaling socket (or reopening it with no peer
 * connected). `signaling`: in the room, waiting for peers. `negotiating`: SDP exchange and ICE in progress.
 * `connected`: a peer connection is up, media and data flowing.
 */

/**
 * @typedef {'idle' | 'connecting' | 'joined' | 'reconnecting' | 'closed'} SignalingConnectionState
 * The signaling socket alone: `connecting` until the first `joined`; `joined`; `reconnecting` while a dropped
 * socket is being replaced (with backoff); `closed` after a hang-up or a final refusal.
 */

/**
 * A peer's media as it announces it (`peer-updated.media`): what the others should show.
 * @typedef {object} PeerMediaState
 * @property {boolean} audio its microphone is on (not muted)
 * @property {boolean} video its camera is on
 * @property {boolean} screen it shares its screen
 * @property {boolean} recording it records the call in its browser
 */

/**
 * The devices a call uses, by kind (ids from `enumerateDevices`; null: none, or not known).
 * @typedef {object} MediaDevices
 * @property {string | null} audioinput
 * @property {string | null} videoinput
 */

/**
 * @typedef {object} PeerUpdate
 * @property {Record<string, unknown>} metadata
 * @property {PeerMediaState | null} media
 */

/**
 * The frames a server sends (docs/protocol.md), as a union on `t`: a `switch (message.t)` narrows to one. Every
 * field of the core of Agentuity's protocol is required; our extensions are optional (a server of Agentuity's protocol sends none),
 * and a client must ignore frames and fields it does not know.
 * @typedef {{ t: "joined", peerId: string, roomId: string, peers: string[], maxPeers?: number, resume?: string,
 *   iceServers?: RTCIceServer[], roles?: Record<string, string>, role?: string,
 *   metadata?: Record<string, Record<string, unknown>>, media?: Record<string, Partial<PeerMediaState>>,
 *   topology?: string, sfuSession?: string }} JoinedMessage
 * @typedef {{ t: "peer-joined", peerId: string, role?: string, metadata?: Record<string, unknown>,
 *   media?: Partial<PeerMediaState> }} PeerJoinedMessage
 * @typedef {{ t: "peer-left", peerId: string, reason?: string }} PeerLeftMessage
 * @typedef {{ t: "peer-updated", peerId: string, metadata?: Record<string, unknown>,
 *   media?: Partial<PeerMediaState> }} PeerUpdatedMessage
 * @typedef {{ t: "sdp", from: string, description: RTCSessionDescriptionInit }} SdpMessage
 * @typedef {{ t: "ice", from: string, candidate: RTCIceCandidateInit }} IceMessage
 * @typedef {{ t: "error", message: string, code?: string }} ErrorMessage
 * @typedef {{ t: "pong", ts?: number }} PongMessage
 * @typedef {{ t: "closed", reason: string }} ClosedMessage
 * @typedef {{ t: "ice-servers", iceServers: RTCIceServer[] }} IceServersMessage
 * @typedef {{ t: "connection-test", clientAddress: string | null, iceServers?: RTCIceServer[] }} ConnectionTestMessage
 * @typedef {{ t: "connection-report-received", id: string }} ConnectionReportReceivedMessage
 * @typedef {{ mid: string, peerId: string, kind: string }} SfuStream
 * @typedef {{ t: "sfu-moved" }} SfuMovedMessage
 * @typedef {{ t: "sfu-published", description: RTCSessionDescriptionInit }} SfuPublishedMessage
 * @typedef {{ t: "sfu-subscription", description: RTCSessionDescriptionInit, streams: SfuStream[], fresh?: boolean }}
 *   SfuSubscriptionMessage
 * @typedef {{ t: "data", from: string, label: string, text?: string, binary?: string }} DataMessage
 * @typedef {JoinedMessage | PeerJoinedMessage | PeerLeftMessage | PeerUpdatedMessage | SdpMessage | IceMessage
 *   | ErrorMessage | PongMessage | ClosedMessage | IceServersMessage | ConnectionTestMessage
 *   | ConnectionReportReceivedMessage | SfuMovedMessage | SfuPublishedMessage | SfuSubscriptionMessage | DataMessage}
 *   ServerMessage
 */

/**
 * @typedef {object} DataChannelConfig
 * @property {string} label
 * @property {boolean} [ordered]
 * @property {number} [maxPacketLifeTime]
 * @property {number} [maxRetransmits]
 * @property {string} [protocol]
 */

/**
 * A source of the local stream: the call asks it for the stream when it connects and stops it on hang-up.
 * @typedef {object} TrackSource
 * @property {string} kind
 * @property {() => Promise<MediaStream>} getStream
 * @property {() => void} stop
 */

/**
 * @typedef {object} WebRTCClientCallbacks
 * @property {(state: WebRTCConnectionState, previous: WebRTCConnectionState) => void} onStateChange
 * @property {(error: Error, state: WebRTCConnectionState) => void} onError
 * @property {(attempt: number) => void} onReconnecting
 * @property {() => void} onReconnected
 * @property {() => void} onReconnectFailed
 * @property {(peerId: string, roomId: string) => void} onJoined
 * @property {(peerId: string) => void} onPeerJoined
 * @property {(peerId: string, reason: string) => void} onPeerLeft
 * @property {(stream: MediaStream) => void} onLocalStream
 * @property {(peerId: string, stream: MediaStream) => void} onRemoteStream
 * @property {(peerId: string, label: string) => void} onDataChannelOpen
 * @property {(peerId: string, label: string) => void} onDataChannelClose
 * @property {(from: string, label: string, data: string | ArrayBuffer) => void} onDataChannelMessage
 * @property {(stream: MediaStream) => void} onScreenShareStart
 * @property {() => void} onScreenShareStop
 * @property {(peerId: string) => void} onIceRestart
 * @property {() => void} onSfuMoved the room moved to another SFU node: our media is published and received anew
 * @property {(peerId: string, update: PeerUpdate) => void} onPeerUpdated a peer changed its metadata or media
 * @property {(peerId: string | null) => void} onActiveSpeakerChange
 */

/**
 * @typedef {object} WebRTCCallOptions
 * @property {string} roomId Room to join.
 * @property {string} signalUrl Signaling endpoint: a path resolves against the page (ws: or wss: from the page).
 * @property {MediaStreamConstraints | TrackSource | false} [media] Default `{ video: true, audio: true }`;
 *   `false` for data only.
 * @property {DataChannelConfig[]} [dataChannels] Opened with every peer.
 * @property {boolean} [autoConnect] Connect on creation (the hook: on mount). Default true.
 * @property {boolean} [autoReconnect] Reconnect the signaling socket after a drop. Default true.
 * @property {number} [maxReconnectAttempts] Attempts per outage before giving up. Default 5.
 * @property {boolean} [polite] Perfect negotiation role with every peer; by default decided per pair.
 * @property {number} [connectionTimeout] Milliseconds to join the room, and for a peer to connect. Default 30000.
 * @property {number} [iceGatheringTimeout] Milliseconds for a peer connection to find a local candidate.
 *   Default 10000.
 * @property {RTCIceServer[]} [iceServers] Default: what the server sends in `joined`, else public STUN.
 * @property {boolean} [simulcast] Extension (SFU rooms): send our video in three layers, each subscriber taking the
 *   one that fits its tile (`observeRemoteVideo`). Default true.
 * @property {Record<string, unknown>} [metadata] What the others learn about us (`{ name: "Ada" }`), at most
 *   1 KiB as JSON; a logged-in user's name is set by the server.
 * @property {Partial<WebRTCClientCallbacks>} [callbacks]
 */

/**
 * @typedef {object} BitrateSummary
 * @property {number} [inbound] bits per second
 * @property {number} [outbound] bits per second
 */

/**
 * @typedef {object} ConnectionQualitySummary
 * @property {number} [rtt] Round-trip time in milliseconds.
 * @property {number} [packetLossPercent] Packets lost of those expected, audio and video, inbound (0-100).
 * @property {number} [jitter] Audio jitter in milliseconds.
 * @property {{ audio?: BitrateSummary, video?: BitrateSummary }} [bitrate]
 * @property {{ framesPerSecond?: number, framesDropped?: number, frameWidth?: number, frameHeight?: number }} [video]
 * @property {{ usingRelay?: boolean, localCandidateType?: string, remoteCandidateType?: string,
 *   relayProtocol?: string }} [candidatePair] `usingRelay` as Agentuity's; the rest are extensions: the candidate
 *   types of the selected pair (`host`, `srflx`, `prflx`, `relay`) and, relaying on our side, how we reach the TURN
 *   server (`udp`, `tcp`, `tls`).
 * @property {number} timestamp When the stats were collected (ms since epoch).
 */

/**
 * What a connection test checks (`testConnection()`), in the order its report lists them.
 * @typedef {"signaling" | "stun" | "turn-udp" | "turn-tcp" | "turn-tls" | "media"} ConnectionCheckId
 */

/**
 * One result of a connection test.
 * @typedef {object} ConnectionCheck
 * @property {ConnectionCheckId} id
 * @property {"pass" | "fail" | "skip"} status `skip`: not tested (the site offers no such server, or what it
 *   needs failed)
 * @property {string} message what was found, in words a user can act on
 * @property {number} [ms] how long the check took
 * @property {number} [rttMs] the media check's round trip through the relay and back, in milliseconds
 * @property {string} [address] the STUN check's finding: this network's public address
 */

/**
 * @typedef {object} ConnectionReport
 * @property {boolean} ok no check failed
 * @property {ConnectionCheck[]} checks
 * @property {string | null} clientAddress this browser's address as the signaling server sees it
 * @property {string} testedAt when the test began (ISO 8601)
 */

/**
 * @typedef {object} ConnectionTestOptions
 * @property {string} signalUrl the signaling endpoint, as for a call
 * @property {RTCIceServer[]} [iceServers] test these instead of the server's
 * @property {number} [timeout] milliseconds each check may take (default 5000; the media check twice that)
 * @property {(check: ConnectionCheck) => void} [onCheck] each result, as soon as it is known
 */

/**
 * @typedef {object} RecordingOptions
 * @property {string} [mimeType] Tried first; otherwise the best type the browser records for the stream.
 * @property {number} [audioBitsPerSecond]
 * @property {number} [videoBitsPerSecond]
 * @property {number} [bitsPerSecond]
 * @property {number} [timeslice] Milliseconds per chunk (default 1000).
 */

/**
 * @typedef {object} RecordingHandle
 * @property {() => Promise<Blob>} stop Stop recording and return the accumulated data.
 * @property {() => void} pause Pause without discarding buffered data.
 * @property {() => void} resume Resume after a pause.
 * @property {'inactive' | 'recording' | 'paused'} state Current recorder state.
 * @property {string} mimeType The type being recorded.
 * @property {string} streamId `'local'` or a remote peer id.
 */

/**
 * What changes over a call's life, as one immutable object (a new one on each change).
 * @typedef {object} WebRTCCallSnapshot
 * @property {WebRTCConnectionState} state
 * @property {Error | null} error
 * @property {string | null} peerId
 * @property {string[]} remotePeerIds
 * @property {Map<string, MediaStream>} remoteStreams
 * @property {MediaStream | null} localStream
 * @property {boolean} isDataOnly
 * @property {boolean} isAudioMuted
 * @property {boolean} isVideoMuted
 * @property {boolean} isScreenSharing
 * @property {number} reconnectAttempt 0 unless the signaling socket is being reopened.
 * @property {string[]} recordingStreamIds streams being recorded (`'local'` or peer ids)
 * @property {number | null} maxPeers the room's capacity, once joined
 * @property {Map<string, string>} peerRoles peers in the room that are not participants, by id: `recorder`, `agent`
 * @property {boolean} isRecordedByServer a recorder peer is in the room (the call is being recorded on the server)
 * @property {SignalingConnectionState} connectionState the signaling socket's own state
 * @property {Record<string, unknown>} metadata our metadata (with the fields the server vouches for, once joined)
 * @property {Map<string, Record<string, unknown>>} peerMetadata each remote peer's metadata, by id
 * @property {Map<string, PeerMediaState>} peerMedia each remote peer's announced media state, by id
 * @property {string | null} activeSpeakerId who speaks now (a remote peer id, or our own), null when nobody does
 * @property {'audio-only' | 'receive-only' | null} mediaFallback what the call fell back to when the camera (or
 *   the microphone too) could not be used
 * @property {MediaDevices} devices the camera and microphone in use
 */

export {};
