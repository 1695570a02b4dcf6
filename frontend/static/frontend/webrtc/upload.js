// Uploading a recording to the rooms REST API: in chunks, with progress, going on after a dropped connection
// from the last byte the server stored, and proven whole by a SHA-256 the server checks.

import { reconnectDelay } from "./backoff.js";

/**
 * @typedef {object} UploadOptions
 * @property {string} roomId the room the recording belongs to
 * @property {string} [endpoint] the recordings collection, default `/api/recordings/`
 * @property {string} [filename] default `recording.webm` (or .mp4, .ogg, from the blob's type)
 * @property {string} [streamId] `'local'` or the peer id that was recorded
 * @property {number} [duration] seconds
 * @property {number} [chunkSize] bytes per request, default 1 MiB
 * @property {(sent: number, total: number) => void} [onProgress] bytes the server has (or is receiving) so far
 * @property {string} [uploadId] go on with an earlier upload of the same blob (its `id`)
 * @property {number} [maxRetries] failed attempts in a row before giving up, default 5
 * @property {string} [csrfToken] default: the `csrftoken` cookie (Django's)
 * @property {Record<string, string>} [headers] e.g. an Authorization header
 */

/**
 * @typedef {object} Recording
 * @property {string} id
 * @property {string} room
 * @property {string} status `uploading`, `complete` or `failed`
 * @property {number} size
 * @property {number} received
 * @property {string} sha256
 * @property {string | null} download_url
 */

/** The server refused a step (`status` is the HTTP status, `body` its JSON), or a request failed (`status` 0). */
export class UploadError extends Error {
  /**
   * @param {number} status
   * @param {Record<string, any>} body
   */
  constructor(status, body) {
    super(typeof body.detail === "string" ? body.detail : `Upload failed (HTTP ${status}): ${JSON.stringify(body)}`);
    this.name = "UploadError";
    this.status = status;
    this.body = body;
  }
}

/** @param {ArrayBuffer} buffer */
const hex = (buffer) => [...new Uint8Array(buffer)].map((byte) => byte.toString(16).padStart(2, "0")).join("");

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function cookieCsrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : undefined;
}

/**
 * One request, as XHR (fetch reports no upload progress).
 * @param {string} method
 * @param {string} url
 * @param {{ body?: Blob | string, headers?: Record<string, string>, onSent?: (loaded: number) => void }} [init]
 * @returns {Promise<any>} the JSON answer
 */
function send(method, url, { body, headers = {}, onSent } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.withCredentials = true;
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    if (onSent) xhr.upload.addEventListener("progress", (event) => onSent(event.loaded));
    xhr.addEventListener("load", () => {
      let answer = {};
      try {
        answer = xhr.responseText ? JSON.parse(xhr.responseText) : {};
      } catch {
        answer = { detail: xhr.responseText.slice(0, 200) };
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(answer);
      else reject(new UploadError(xhr.status, answer));
    });
    for (const failure of ["error", "abort", "timeout"]) {
      xhr.addEventListener(failure, () => reject(new UploadError(0, { detail: `Network ${failure} during upload` })));
    }
    xhr.send(body ?? null);
  });
}

/**
 * Upload `blob` (a recording) and resolve with the finished recording.
 * @param {Blob} blob
 * @param {UploadOptions} options
 * @returns {Promise<Recording>}
 */
export async function uploadRecording(blob, options) {
  if (!(blob instanceof Blob) || blob.size === 0) throw new TypeError("uploadRecording needs a non-empty Blob");
  if (!options || typeof options.roomId !== "string") throw new TypeError("uploadRecording needs a roomId");
  const endpoint = options.endpoint ?? "/api/recordings/";
  const chunkSize = options.chunkSize ?? 1024 * 1024;
  const maxRetries = options.maxRetries ?? 5;
  const csrfToken = options.csrfToken ?? cookieCsrfToken();
  /** @type {Record<string, string>} */
  const headers = { ...(csrfToken ? { "X-CSRFToken": csrfToken } : {}), ...(options.headers ?? {}) };
  const report = (/** @type {number} */ sent) => options.onProgress?.(Math.min(sent, blob.size), blob.size);
  const type = blob.type || "video/webm";
  const extension = type.includes("mp4") ? "mp4" : type.includes("ogg") ? "ogg" : "webm";

  /** @type {Recording} */
  let recording;
  if (options.uploadId) {
    recording = await send("GET", `${endpoint}${options.uploadId}/`, { headers });
  } else {
    const sha256 = hex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
    const body = JSON.stringify({
      room: options.roomId,
      filename: options.filename ?? `recording.${extension}`,
      mime_type: type,
      size: blob.size,
      sha256,
      stream_id: options.streamId ?? "",
      duration: options.duration ?? null,
    });
    recording = await send("POST", endpoint, { body, headers: { ...headers, "Content-Type": "application/json" } });
  }
  // Built here rather than taken from the answer: behind a proxy the server may not know the public address.
  const detail = `${endpoint}${recording.id}/`;
  report(recording.received);
  let failures = 0;
  while (recording.status === "uploading") {
    const offset = recording.received;
    try {
      recording = await send("PUT", `${detail}content`, {
        body: blob.slice(offset, offset + chunkSize),
        headers: { ...headers, "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(offset) },
        onSent: (loaded) => report(offset + loaded),
      });
      failures = 0;
      report(recording.received);
    } catch (error) {
      if (!(error instanceof UploadError)) throw error;
      if (error.status === 409 && typeof error.body.received === "number") {
        // The server has more (or less) than we thought: a lost answer. Go on from what it has.
        recording = { ...recording, received: error.body.received };
        continue;
      }
      if (error.status !== 0 && error.status < 500) throw error; // refused for good: too large, not media, ...
      failures += 1;
      if (failures > maxRetries) throw error;
      await sleep(reconnectDelay(failures));
      try {
        recording = await send("GET", detail, { headers });
      } catch (lookup) {
        if (!(lookup instanceof UploadError) || (lookup.status !== 0 && lookup.status < 500)) throw lookup;
        // Still unreachable: the next round retries the same chunk, which the server answers with 409 if needed.
      }
    }
  }
  if (recording.status !== "complete") throw new UploadError(409, { detail: `The upload is ${recording.status}` });
  return recording;
}
