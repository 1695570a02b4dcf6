// Recording a local or remote stream with MediaRecorder.

/** @typedef {import('./types.js').RecordingOptions} RecordingOptions */
/** @typedef {import('./types.js').RecordingHandle} RecordingHandle */

/** Types tried, best first, when the caller names none or one the browser cannot record. */
const VIDEO_TYPES = ["video/webm;codecs=vp9,opus", "video/webm;codecs=vp8,opus", "video/webm", "video/mp4"];
const AUDIO_TYPES = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];

/**
 * The MIME type to record `stream` in, or null when the browser can record none that fits it.
 * @param {MediaStream} stream
 * @param {string} [requested]
 * @returns {string | null}
 */
export function recordingMimeType(stream, requested) {
  if (typeof MediaRecorder === "undefined") return null;
  const live = stream.getTracks().filter((track) => track.readyState === "live");
  if (!live.length) return null;
  const hasVideo = live.some((track) => track.kind === "video");
  const candidates = [...(requested ? [requested] : []), ...(hasVideo ? VIDEO_TYPES : AUDIO_TYPES)];
  return candidates.find((type) => MediaRecorder.isTypeSupported(type)) ?? null;
}

/**
 * Start recording `stream`; null when there is nothing to record or no type fits.
 * @param {string} streamId
 * @param {MediaStream} stream
 * @param {RecordingOptions} [options]
 * @param {() => void} [onEnd] called once the recording has stopped, however it stopped
 * @returns {RecordingHandle | null}
 */
export function startRecording(streamId, stream, options = {}, onEnd = () => {}) {
  const mimeType = recordingMimeType(stream, options.mimeType);
  if (!mimeType) return null;
  const { timeslice = 1000, audioBitsPerSecond, videoBitsPerSecond, bitsPerSecond } = options;
  const recorder = new MediaRecorder(stream, { mimeType, audioBitsPerSecond, videoBitsPerSecond, bitsPerSecond });
  /** @type {Blob[]} */
  const chunks = [];
  recorder.addEventListener("dataavailable", (event) => {
    if (event.data.size) chunks.push(event.data);
  });
  /** @type {Promise<Blob>} */
  const stopped = new Promise((resolve) => {
    recorder.addEventListener(
      "stop",
      () => {
        onEnd();
        resolve(new Blob(chunks, { type: recorder.mimeType || mimeType }));
      },
      { once: true },
    );
  });
  // Chunks every `timeslice` ms: a recording cut short (a crashed tab's last second aside) keeps what it had.
  recorder.start(timeslice);
  return {
    streamId,
    mimeType: recorder.mimeType || mimeType,
    get state() {
      return recorder.state;
    },
    pause() {
      if (recorder.state === "recording") recorder.pause();
    },
    resume() {
      if (recorder.state === "paused") recorder.resume();
    },
    stop() {
      if (recorder.state !== "inactive") recorder.stop();
      return stopped;
    },
  };
}
