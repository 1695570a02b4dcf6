// The signaling socket: one WebSocket to the server, JSON frames in and out (docs/protocol.md).

/**
 * The room ids the server accepts (`signaling.protocol.ROOM_ID_PATTERN`; tests/test_client_units.py holds the two
 * to the same answers): 1 to 128 of letters, digits and `-_.:`, not dots alone (`.` and `..` are path segments).
 */
export const ROOM_ID = /^(?!\.+$)[A-Za-z0-9_.:-]{1,128}$/;

/** The standard "service restart": the server is going away on purpose (a deploy) and parked this peer. */
export const SERVICE_RESTART = 1012;

/** Close codes after which reconnecting cannot help: the server refused this client or ended its membership. */
export const FINAL_CLOSE_CODES = new Map([
  [4001, "forbidden"],
  [4003, "origin-not-allowed"],
  [4009, "too-large"],
  [4010, "kicked"],
  [4011, "room-closed"],
  // This peer's place was taken by a newer connection of the same peer (its resume token used elsewhere).
  [4014, "replaced"],
]);

/**
 * The socket URL for `signalUrl`: a path resolves against the page, http(s) becomes ws(s), and the room goes in
 * `?room=` so that a load balancer with room affinity sends every peer of a room (and a resume) to one worker
 * (a socket for no room, a connection test's, has none).
 * @param {string} signalUrl
 * @param {string | null} roomId
 * @param {string} [base] the page's address
 * @returns {string}
 */
export function signalingUrl(signalUrl, roomId, base = globalThis.location?.href) {
  const url = new URL(signalUrl, base);
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TypeError(`signalUrl must be a path or a ws:, wss:, http: or https: URL, not ${signalUrl}`);
  }
  if (roomId !== null && !url.searchParams.has("room")) url.searchParams.set("room", roomId);
  return url.toString();
}

/** An error the call reports: `code` is the server's error code or one of the client's own. */
export class WebRTCCallError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{ peerId?: string, cause?: unknown }} [details]
   */
  constructor(code, message, { peerId, cause } = {}) {
    super(message, { cause });
    this.name = "WebRTCCallError";
    this.code = code;
    this.peerId = peerId;
  }
}

/** @typedef {import('./types.js').ServerMessage} ServerMessage */

/**
 * @typedef {object} SignalingHandlers
 * @property {(message: ServerMessage) => void} onMessage a frame with a string `t` (the rest unchecked: see
 *   WebRTCCall.onSignal)
 * @property {(event: CloseEvent) => void} onClose
 */

/** One signaling connection; the call opens a new one for each (re)connection. */
export class SignalingSocket {
  /**
   * @param {string} url
   * @param {SignalingHandlers} handlers
   */
  constructor(url, handlers) {
    this.handlers = handlers;
    this.socket = new WebSocket(url);
    this.closed = false;
    this.socket.addEventListener("message", (event) => {
      if (this.closed || typeof event.data !== "string") return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message && typeof message === "object" && typeof message.t === "string") handlers.onMessage(message);
    });
    this.socket.addEventListener("close", (event) => {
      if (this.closed) return;
      this.closed = true;
      handlers.onClose(event);
    });
  }

  /** @returns {Promise<void>} resolves when the socket is open, rejects when it closes first */
  opened() {
    if (this.socket.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.socket.addEventListener("open", () => resolve(), { once: true });
      this.socket.addEventListener("close", () => reject(new Error("signaling socket closed")), { once: true });
    });
  }

  get isOpen() {
    return !this.closed && this.socket.readyState === WebSocket.OPEN;
  }

  /** Bytes given to send() that the browser has not written to the network yet. */
  get bufferedAmount() {
    return this.socket.bufferedAmount;
  }

  /** @param {Record<string, unknown>} message */
  send(message) {
    if (!this.isOpen) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /**
   * Close without telling the handlers: the caller already knows why.
   * @param {number} [code]
   */
  close(code = 1000) {
    this.closed = true;
    if (this.socket.readyState === WebSocket.CONNECTING || this.socket.readyState === WebSocket.OPEN) {
      this.socket.close(code);
    }
  }
}
