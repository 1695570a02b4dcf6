// Extension: how each of our connections goes, direct or through a TURN relay, told to the server (the `path`
// frame: its lifecycle log and metrics, so support can see who relays) once per change.

import { selectedPairOf } from "./quality.js";

/** The browser may not name the selected pair in its stats at the very moment a connection is up: it is looked
 * for this many times, PATH_RETRY ms apart. */
const PATH_ATTEMPTS = 10;
const PATH_RETRY = 300;

/** @typedef {{ t: "path", peerId: string, relay: boolean, protocol?: string }} PathFrame */

/** The media path of one connection, as last told to the server. */
export class PathReport {
  /**
   * @param {string} name what the server knows the connection as: the remote peer's id in a mesh room,
   *   `sfu-publisher` or `sfu-subscriber` in an SFU room
   * @param {RTCPeerConnection} pc
   * @param {(frame: PathFrame) => boolean} send whether the frame went to the server
   */
  constructor(name, pc, send) {
    this.name = name;
    this.pc = pc;
    this.send = send;
    /** @type {string | null} the path last told, as its frame's JSON */
    this.told = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.retry = null;
  }

  /** The connection is up (again): tell the server its path, if that changed. */
  async update(attempt = 0) {
    this.cancel();
    const pair = await selectedPairOf(this.pc);
    if (!pair) {
      if (attempt < PATH_ATTEMPTS && this.pc.connectionState === "connected") {
        this.retry = setTimeout(() => void this.update(attempt + 1), PATH_RETRY);
      }
      return;
    }
    /** @type {PathFrame} */
    const frame = { t: "path", peerId: this.name, relay: pair.usingRelay ?? false };
    if (pair.relayProtocol) frame.protocol = pair.relayProtocol;
    const json = JSON.stringify(frame);
    if (json !== this.told && this.send(frame)) this.told = json;
  }

  cancel() {
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
  }
}
