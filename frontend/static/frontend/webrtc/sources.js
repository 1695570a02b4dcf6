// Track sources: where the local stream of a call comes from.

/** @typedef {import('./types.js').TrackSource} TrackSource */

/** A source that captures a device (camera, microphone, screen) once and releases it on stop(). */
class CaptureSource {
  /**
   * @param {string} kind
   * @param {MediaStreamConstraints | DisplayMediaStreamOptions} constraints
   */
  constructor(kind, constraints) {
    this.kind = kind;
    this.constraints = constraints;
    /** @type {MediaStream | null} */
    this.stream = null;
  }

  /** @returns {Promise<MediaStream>} */
  capture() {
    return Promise.reject(new Error("CaptureSource.capture() is for subclasses"));
  }

  /** @returns {Promise<MediaStream>} */
  async getStream() {
    this.stream ??= await this.capture();
    return this.stream;
  }

  stop() {
    this.stream?.getTracks().forEach((track) => track.stop());
    this.stream = null;
  }
}

/** Camera and microphone, through getUserMedia. */
export class UserMediaSource extends CaptureSource {
  /** @param {MediaStreamConstraints} [constraints] */
  constructor(constraints = { video: true, audio: true }) {
    super("user-media", constraints);
  }

  capture() {
    return navigator.mediaDevices.getUserMedia(/** @type {MediaStreamConstraints} */ (this.constraints));
  }
}

/** A screen, window or tab, through getDisplayMedia (the browser asks the user which). */
export class DisplayMediaSource extends CaptureSource {
  /** @param {DisplayMediaStreamOptions} [constraints] */
  constructor(constraints = { video: true, audio: false }) {
    super("display-media", constraints);
  }

  capture() {
    return navigator.mediaDevices.getDisplayMedia(/** @type {DisplayMediaStreamOptions} */ (this.constraints));
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
