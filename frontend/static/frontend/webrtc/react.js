// useWebRTCCall: the React hook over WebRTCCall. Imports `react` as a bare module (a bundler or an import map
// resolves it).

import { useEffect, useMemo, useRef, useSyncExternalStore } from "react";

import { WebRTCCall } from "./call.js";

export { WebRTCCall } from "./call.js";
export { WebRTCCallError } from "./signaling.js";
export { CustomStreamSource, DisplayMediaSource, UserMediaSource } from "./sources.js";
export { UploadError, uploadRecording } from "./upload.js";

/** @typedef {import('./types.js').WebRTCCallOptions} WebRTCCallOptions */
/** @typedef {import('./types.js').WebRTCCallSnapshot} WebRTCCallSnapshot */

/**
 * A callback ref that also has `current`, like a ref object.
 * @typedef {((element: HTMLVideoElement | null) => void) & { current: HTMLVideoElement | null }} LocalVideoRef
 */

/**
 * @typedef {object} WebRTCCallMethods
 * @property {LocalVideoRef} localVideoRef put on a `<video>`: it shows the local preview
 * @property {WebRTCCall} call the framework-free core, for what the hook does not expose
 * @property {() => Promise<void>} connect
 * @property {() => void} hangup
 * @property {(muted?: boolean) => void} muteAudio
 * @property {(muted?: boolean) => void} muteVideo
 * @property {WebRTCCall['sendString']} sendString
 * @property {WebRTCCall['sendStringTo']} sendStringTo
 * @property {WebRTCCall['sendJSON']} sendJSON
 * @property {WebRTCCall['sendJSONTo']} sendJSONTo
 * @property {WebRTCCall['sendBinary']} sendBinary
 * @property {WebRTCCall['sendBinaryTo']} sendBinaryTo
 * @property {WebRTCCall['createDataChannel']} createDataChannel
 * @property {WebRTCCall['getDataChannelLabels']} getDataChannelLabels
 * @property {WebRTCCall['getDataChannelState']} getDataChannelState
 * @property {WebRTCCall['closeDataChannel']} closeDataChannel
 * @property {WebRTCCall['startScreenShare']} startScreenShare
 * @property {WebRTCCall['stopScreenShare']} stopScreenShare
 * @property {WebRTCCall['getQualitySummary']} getQualitySummary
 * @property {WebRTCCall['getAllQualitySummaries']} getAllQualitySummaries
 * @property {WebRTCCall['startRecording']} startRecording
 * @property {WebRTCCall['stopAllRecordings']} stopAllRecordings
 * @property {WebRTCCall['isRecording']} isRecording
 * @property {WebRTCCall['setMetadata']} setMetadata
 * @property {WebRTCCall['getDevices']} getDevices
 * @property {WebRTCCall['switchDevice']} switchDevice
 * @property {WebRTCCall['getAudioLevels']} getAudioLevels
 * @property {WebRTCCall['testConnection']} testConnection
 * @property {WebRTCCall['sendConnectionReport']} sendConnectionReport
 */

/** @typedef {WebRTCCallSnapshot & WebRTCCallMethods} UseWebRTCCallResult */

/**
 * A call in a React component. Options may be written inline (new objects each render): only a new `roomId` or
 * `signalUrl` starts a new call; everything else is applied to the running one (see WebRTCCall.setOptions).
 * @param {WebRTCCallOptions} options
 * @returns {UseWebRTCCallResult}
 */
export function useWebRTCCall(options) {
  const { roomId, signalUrl } = options;
  // The core never connects by itself here: the effect below does, so that a re-mount (StrictMode) connects again.
  const call = useMemo(() => new WebRTCCall({ ...options, autoConnect: false }), [roomId, signalUrl]);
  const autoConnect = useRef(options.autoConnect ?? true);

  useEffect(() => {
    call.setOptions({ ...options, autoConnect: false });
  });

  useEffect(() => {
    if (autoConnect.current) void call.connect();
    return () => call.hangup();
  }, [call]);

  const snapshot = useSyncExternalStore(
    useMemo(() => (/** @type {() => void} */ listener) => call.subscribe(listener), [call]),
    () => call.getSnapshot(),
    () => call.getSnapshot(),
  );

  const methods = useMemo(() => {
    /** @type {() => void} */
    let detach = () => {};
    const localVideoRef = /** @type {LocalVideoRef} */ (
      (/** @type {HTMLVideoElement | null} */ element) => {
        detach();
        detach = () => {};
        localVideoRef.current = element;
        if (element) detach = call.attachLocalVideo(element);
      }
    );
    localVideoRef.current = null;
    /** @type {WebRTCCallMethods} */
    const bound = {
      localVideoRef,
      call,
      connect: () => call.connect(),
      hangup: () => call.hangup(),
      muteAudio: (muted) => call.muteAudio(muted),
      muteVideo: (muted) => call.muteVideo(muted),
      sendString: (label, text) => call.sendString(label, text),
      sendStringTo: (peerId, label, text) => call.sendStringTo(peerId, label, text),
      sendJSON: (label, value) => call.sendJSON(label, value),
      sendJSONTo: (peerId, label, value) => call.sendJSONTo(peerId, label, value),
      sendBinary: (label, data) => call.sendBinary(label, data),
      sendBinaryTo: (peerId, label, data) => call.sendBinaryTo(peerId, label, data),
      createDataChannel: (config) => call.createDataChannel(config),
      getDataChannelLabels: () => call.getDataChannelLabels(),
      getDataChannelState: (peerId, label) => call.getDataChannelState(peerId, label),
      closeDataChannel: (label) => call.closeDataChannel(label),
      startScreenShare: (constraints) => call.startScreenShare(constraints),
      stopScreenShare: () => call.stopScreenShare(),
      getQualitySummary: (peerId) => call.getQualitySummary(peerId),
      getAllQualitySummaries: () => call.getAllQualitySummaries(),
      startRecording: (streamId, recordingOptions) => call.startRecording(streamId, recordingOptions),
      stopAllRecordings: () => call.stopAllRecordings(),
      isRecording: (streamId) => call.isRecording(streamId),
      setMetadata: (metadata) => call.setMetadata(metadata),
      getDevices: () => call.getDevices(),
      switchDevice: (kind, deviceId) => call.switchDevice(kind, deviceId),
      getAudioLevels: () => call.getAudioLevels(),
      testConnection: (testOptions) => call.testConnection(testOptions),
      sendConnectionReport: (report) => call.sendConnectionReport(report),
    };
    return bound;
  }, [call]);

  return { ...snapshot, ...methods };
}
