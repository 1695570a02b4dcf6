// The signaling connection of a call: one socket at a time, its join, keep-alive and reconnection with backoff,
// behind an explicit state. The call (call.js) decides what the frames mean; this module decides when a socket is
// dead, whether to come back, and when to give up.

import { reconnectDelay } from "./backoff.js";
import { FINAL_CLOSE_CODES, SERVICE_RESTART, SignalingSocket, WebRTCCallError } from "./signaling.js";
import { Timers } from "./timers.js";

/** @typedef {import('./types.js').SignalingConnectionState} SignalingConnectionState */
/** @typedef {import('./types.js').ServerMessage} ServerMessage */

/** Keep-alive period of the signaling socket; one silent for two periods and a half is taken for dead. */
export const PING_INTERVAL = 15000;
/** The close code this client uses for a socket it replaces (the server parks the peer for a resume). */
export const CLIENT_RECONNECTING = 4000;

/**
 * @typedef {object} SignalingConnectionEvents
 * @property {(message: ServerMessage) => void} onMessage a frame of the current socket
 * @property {(state: SignalingConnectionState, previous: SignalingConnectionState) => void} onStateChange
 * @property {(attempt: number) => void} onReconnecting a reconnection attempt is scheduled
 * @property {(error: WebRTCCallError) => void} onEnd the connection ended for good (refused, kicked, gave up)
 */

/**
 * @typedef {object} SignalingConnectionInit
 * @property {() => string} url the socket URL, read for every (re)connection
 * @property {() => Record<string, unknown>} joinMessage the `join` to send once a socket is open
 * @property {number} connectionTimeout ms a socket may take to be open and joined
 * @property {boolean} autoReconnect
 * @property {number} maxReconnectAttempts
 * @property {SignalingConnectionEvents} events
 */

export class SignalingConnection {
  /** @param {SignalingConnectionInit} init */
  constructor(init) {
    this.init = init;
    /** @type {SignalingConnectionState} */
    this.state = "idle";
    /** @type {SignalingSocket | null} */
    this.socket = null;
    this.timers = new Timers();
    /** Attempts count across the whole outage: only a `joined` ends it. */
    this.attempt = 0;
    this.lastHeard = 0;
    /** @type {string | null} why the server is about to close the socket (`closed.reason`) */
    this.closedReason = null;
    this.onOnline = () => {
      // Back online: do not wait out the backoff.
      if (this.state === "reconnecting" && this.timers.has("reconnect")) {
        this.timers.clear("reconnect");
        this.open();
      }
    };
  }

  /** @param {SignalingConnectionState} state */
  setState(state) {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.init.events.onStateChange(state, previous);
  }

  /** Open the first socket and join. */
  start() {
    if (this.state !== "idle" && this.state !== "closed") return;
    this.attempt = 0;
    globalThis.addEventListener?.("online", this.onOnline);
    this.setState("connecting");
    this.open();
  }

  open() {
    const socket = new SignalingSocket(this.init.url(), {
      onMessage: (message) => this.received(socket, message),
      onClose: (event) => this.socketClosed(socket, event.code),
    });
    this.socket = socket;
    this.closedReason = null;
    this.timers.set("join", this.init.connectionTimeout, () => {
      if (this.socket === socket && this.state !== "joined") this.replace(socket);
    });
    socket.opened().then(
      () => {
        if (this.socket !== socket) return;
        this.lastHeard = Date.now();
        socket.send(this.init.joinMessage());
        this.keepAlive(socket);
      },
      () => {},
    );
  }

  /** @param {SignalingSocket} socket */
  keepAlive(socket) {
    this.timers.set("ping", PING_INTERVAL, () => {
      if (this.socket !== socket) return;
      if (Date.now() - this.lastHeard > PING_INTERVAL * 2.5) {
        // A half-open connection (a laptop that slept, a NAT that forgot us): the browser may never notice.
        this.replace(socket);
        return;
      }
      socket.send({ t: "ping", ts: Date.now() });
      this.keepAlive(socket);
    });
  }

  /**
   * Close `socket` as "reconnecting" (the server parks the peer) and come back on a new one.
   * @param {SignalingSocket} socket
   */
  replace(socket) {
    socket.close(CLIENT_RECONNECTING);
    this.socketClosed(socket, CLIENT_RECONNECTING);
  }

  /**
   * @param {SignalingSocket} socket
   * @param {ServerMessage} message
   */
  received(socket, message) {
    if (socket !== this.socket) return;
    this.lastHeard = Date.now();
    if (message.t === "closed") this.closedReason = typeof message.reason === "string" ? message.reason : null;
    this.init.events.onMessage(message);
  }

  /** The call saw `joined`: the outage (if any) is over. @returns {boolean} whether this was a reconnection */
  joined() {
    this.timers.clear("join");
    const wasReconnecting = this.attempt > 0;
    this.attempt = 0;
    this.setState("joined");
    return wasReconnecting;
  }

  /** The server refused the join for now (`internal`, `rate-limited`): try again later, with backoff. */
  retryLater() {
    if (this.socket) this.replace(this.socket);
  }

  /** @param {Record<string, unknown>} message @returns {boolean} whether it went out (the socket is open) */
  send(message) {
    return this.socket?.send(message) ?? false;
  }

  get isJoined() {
    return this.state === "joined" && (this.socket?.isOpen ?? false);
  }

  /**
   * Resolves once the socket has at most `threshold` bytes waiting to be sent (or is gone): a WebSocket tells no
   * event of it, so it is looked at every 50 ms.
   * @param {number} threshold
   * @returns {Promise<void>}
   */
  whenDrained(threshold) {
    return new Promise((resolve) => {
      const check = () => {
        const socket = this.socket;
        if (!socket || !socket.isOpen || socket.bufferedAmount <= threshold) resolve();
        else setTimeout(check, 50);
      };
      check();
    });
  }

  /**
   * @param {SignalingSocket} socket
   * @param {number} code
   */
  socketClosed(socket, code) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.timers.clear("join");
    this.timers.clear("ping");
    const finalCode = FINAL_CLOSE_CODES.get(code);
    if (finalCode) {
      const reason = this.closedReason ?? finalCode;
      this.end(new WebRTCCallError(reason, `The signaling server ended the call (${reason}, close code ${code})`));
    } else if (!this.init.autoReconnect) {
      this.end(new WebRTCCallError("signaling-closed", `The signaling connection closed (code ${code})`));
    } else {
      // 1012 (service restart): the server is going away on purpose and parked this peer; come back at once.
      this.scheduleReconnect(code === SERVICE_RESTART);
    }
  }

  /** @param {boolean} immediately make the first attempt without waiting */
  scheduleReconnect(immediately) {
    const attempt = ++this.attempt;
    if (attempt > this.init.maxReconnectAttempts) {
      this.end(
        new WebRTCCallError("reconnect-failed", `Could not reconnect after ${this.init.maxReconnectAttempts} attempts`),
      );
      return;
    }
    this.setState("reconnecting");
    this.init.events.onReconnecting(attempt);
    const delay = immediately && attempt === 1 ? 0 : reconnectDelay(attempt);
    this.timers.set("reconnect", delay, () => this.open());
  }

  /** @param {WebRTCCallError} error */
  end(error) {
    this.stop();
    this.init.events.onEnd(error);
  }

  /** Leave the room (when joined) and close the socket; nothing is reported. */
  stop() {
    globalThis.removeEventListener?.("online", this.onOnline);
    this.timers.clearAll();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.send({ t: "leave" });
      socket.close(1000);
    }
    this.attempt = 0;
    this.setState("closed");
  }
}
