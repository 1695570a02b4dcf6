// The browser client, framework-free: `import { WebRTCCall } from "/static/frontend/webrtc/index.js"`.
// React users import `useWebRTCCall` (and the same sources) from react.js.

export { reconnectDelay } from "./backoff.js";
export { SignalingConnection } from "./connection.js";
export { SpeakerDetector, levelBetween, pickSpeaker } from "./levels.js";
export { DEFAULT_ICE_SERVERS, WebRTCCall } from "./call.js";
export { summarize as summarizeStats } from "./quality.js";
export { recordingMimeType } from "./recording.js";
export { WebRTCCallError, signalingUrl } from "./signaling.js";
export { CustomStreamSource, DisplayMediaSource, UserMediaSource, isTrackSource } from "./sources.js";
export { UploadError, uploadRecording } from "./upload.js";
