// The browser client, framework-free: `import { WebRTCCall } from "/static/frontend/webrtc/index.js"`.
// React users import `useWebRTCCall` (and the same sources) from react.js.

export { VIDEO_QUALITIES, qualityForSize, watchVideoElement } from "./adaptive.js";
export { reconnectDelay } from "./backoff.js";
export { SignalingConnection } from "./connection.js";
export { CONNECTION_CHECKS, sendConnectionReport, testConnection } from "./connectiontest.js";
export { iceUrlKind } from "./ice.js";
export { SpeakerDetector, levelBetween, pickSpeaker } from "./levels.js";
export { DEFAULT_ICE_SERVERS, WebRTCCall } from "./call.js";
export { summarize as summarizeStats } from "./quality.js";
export { recordingMimeType } from "./recording.js";
export { WebRTCCallError, signalingUrl } from "./signaling.js";
export { CustomStreamSource, DisplayMediaSource, UserMediaSource, isTrackSource } from "./sources.js";
export { UploadError, uploadRecording } from "./upload.js";

// The public types, for TypeScript users of the npm package (`import type { WebRTCCallOptions } from ...`).
/** @typedef {import('./types.js').WebRTCCallOptions} WebRTCCallOptions */
/** @typedef {import('./types.js').WebRTCCallSnapshot} WebRTCCallSnapshot */
/** @typedef {import('./types.js').WebRTCClientCallbacks} WebRTCClientCallbacks */
/** @typedef {import('./types.js').WebRTCConnectionState} WebRTCConnectionState */
/** @typedef {import('./types.js').SignalingConnectionState} SignalingConnectionState */
/** @typedef {import('./types.js').PeerMediaState} PeerMediaState */
/** @typedef {import('./types.js').ServerMessage} ServerMessage */
/** @typedef {import('./types.js').DataChannelConfig} DataChannelConfig */
/** @typedef {import('./types.js').ConnectionQualitySummary} ConnectionQualitySummary */
/** @typedef {import('./types.js').RecordingHandle} RecordingHandle */
/** @typedef {import('./types.js').TrackSource} TrackSource */
/** @typedef {import('./types.js').ConnectionReport} ConnectionReport */
/** @typedef {import('./types.js').ConnectionCheck} ConnectionCheck */
/** @typedef {import('./types.js').ConnectionTestOptions} ConnectionTestOptions */
