// Track sources: where the local stream of a call comes from.

/** @typedef {import('./types.js').TrackSource} TrackSource */

/** Camera and microphone, through getUserMedia. */
export class UserMediaSource {
  /** @param {MediaStreamConstraints} [constraints] */
  constructor(constraints = { video: true, audio: true }) {
    this.kind = "user-media";
    this.constraints = constraints;
    /** @type {MediaStream | null} */
    this.stream = null;
  }

  /** @returns {Promise<MediaStream>} */
  async getStream() {
    this.stream ??= await navigator.mediaDevices.getUserMedia(this.constraints);
    return this.stream;
  }

  stop() {
    this.stream?.getTracks().forEach((track) => track.stop());
    this.stream = null;
  }
}

/** A screen, window or tab, through getDisplayMedia (the browser asks the user which). */
export class DisplayMediaSource {
  /** @param {DisplayMediaStreamOptions} [constraints] */
  constructor(constraints = { video: true, audio: false }) {
    this.kind = "display-media";
    this.constraints = constraints;
    /** @type {MediaStream | null} */
    this.stream = null;
  }

  /** @returns {Promise<MediaStream>} */
  async getStream() {
    this.stream ??= await navigator.mediaDevices.getDisplayMedia(this.constraints);
    return this.stream;
  }

  stop() {
    this.stream?.getTracks().forEach((track) => track.stop());
    this.stream = null;
  }
}

/** A stream you already have (a canvas, WebAudio, a file): `stop()` leaves its tracks running, they are yours. */
export class CustomStreamSource {
  /** @param {MediaStream} stream */
  constructor(stream) {
    if (!(stream instanceof MediaStream)) throw new TypeError("CustomStreamSource needs a MediaStream");
    this.kind = "custom";
    this.stream = stream;
  }

  /** @returns {Promise<MediaStream>} */
  async getStream() {
    return this.stream;
  }

  stop() {}
}

/**
 * @param {unknown} value
 * @returns {value is TrackSource}
 */
export function isTrackSource(value) {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (/** @type {any} */ (value).getStream) === "function" &&
    typeof (/** @type {any} */ (value).stop) === "function"
  );
}

/**
 * The source a `media` option stands for; null for a data-only call.
 * @param {MediaStreamConstraints | TrackSource | false | undefined} media
 * @returns {TrackSource | null}
 */
export function sourceOf(media) {
  if (media === false) return null;
  if (media === undefined) return new UserMediaSource();
  if (isTrackSource(media)) return media;
  if (typeof media === "object" && media !== null) return new UserMediaSource(media);
  throw new TypeError("media must be MediaStreamConstraints, a TrackSource or false");
}
