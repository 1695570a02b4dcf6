// The connection test: what a call from this browser needs, checked one by one against the site's own servers
// (the signaling socket, STUN, TURN over UDP, TCP and TLS, and media through the relay and back), each result in
// words a user can act on. The server only hands out its ICE configuration (`connection-test`) and keeps the
// report a user chooses to send (`connection-report`); see docs/protocol.md.

import { DEFAULT_ICE_SERVERS, iceUrlsByKind, stunUrlOf } from "./ice.js";
import { summarize } from "./quality.js";
import { FINAL_CLOSE_CODES, SignalingSocket, WebRTCCallError, signalingUrl } from "./signaling.js";

/** @typedef {import('./types.js').ConnectionCheck} ConnectionCheck */
/** @typedef {import('./types.js').ConnectionCheckId} ConnectionCheckId */
/** @typedef {import('./types.js').ConnectionReport} ConnectionReport */
/** @typedef {import('./types.js').ConnectionTestOptions} ConnectionTestOptions */
/** @typedef {import('./ice.js').IceUrlKind} IceUrlKind */
/** @typedef {import('./types.js').ServerMessage} ServerMessage */
/** @typedef {import('./types.js').ErrorMessage} ErrorMessage */
/**
 * How one request on a socket of its own ended: the frame that answers it, an `error`, the socket's close, or no
 * answer in time.
 * @template F
 * @typedef {{ frame: F } | { refused: ErrorMessage } | { closed: number } | { timedOut: true }} ExchangeOutcome
 */

/** Milliseconds each check may take by default (the media round trip, twice as long). */
export const CHECK_TIMEOUT = 5000;
/** What a report lists, in this order (the server's `CONNECTION_CHECKS`). @type {ConnectionCheckId[]} */
export const CONNECTION_CHECKS = ["signaling", "stun", "turn-udp", "turn-tcp", "turn-tls", "media"];
/** Data channel round trips the media check times; its RTT is their median. */
const PINGS = 5;
/** @type {Record<"udp" | "tcp" | "tls", string>} */
const TRANSPORT_NAMES = { udp: "UDP", tcp: "TCP", tls: "TLS" };

/** @param {number} ms */
const seconds = (ms) => `${Math.round(ms / 100) / 10} s`;
/** @param {number} since */
const elapsed = (since) => Math.round(performance.now() - since);

/**
 * @param {ConnectionCheckId} id
 * @param {ConnectionCheck["status"]} status
 * @param {string} message
 * @param {Partial<ConnectionCheck>} [figures]
 * @returns {ConnectionCheck}
 */
const check = (id, status, message, figures = {}) => ({ id, status, message, ...figures });

/**
 * Test this browser's connection to the site: every check, each reported to `onCheck` as soon as it is known.
 * Needs no camera or microphone, and never throws: what fails is in the report.
 * @param {ConnectionTestOptions} options
 * @returns {Promise<ConnectionReport>}
 */
export async function testConnection(options) {
  const timeout = options.timeout ?? CHECK_TIMEOUT;
  /** @type {Map<ConnectionCheckId, ConnectionCheck>} */
  const results = new Map();
  /** @param {ConnectionCheck} result */
  const record = (result) => {
    results.set(result.id, result);
    options.onCheck?.(result);
    return result;
  };
  const testedAt = new Date().toISOString();
  const signaling = await checkSignaling(options.signalUrl, timeout);
  record(signaling.check);
  // What a call would use: the page's servers, else the server's, else the client's default.
  const servers =
    options.iceServers ?? signaling.iceServers ?? (signaling.check.status === "pass" ? DEFAULT_ICE_SERVERS : null);
  if (!servers) {
    for (const id of CONNECTION_CHECKS.slice(1)) {
      record(
        check(
          id,
          "skip",
          "Not tested: the site's STUN and TURN servers come from its signaling server, which could not be reached.",
        ),
      );
    }
  } else {
    const kinds = iceUrlsByKind(servers);
    /** @type {("udp" | "tcp" | "tls")[]} */
    const transports = ["udp", "tcp", "tls"];
    const [, ...relays] = await Promise.all([
      checkStun(kinds, timeout).then(record),
      ...transports.map((transport) => checkTurn(transport, kinds.get(transport) ?? [], timeout).then(record)),
    ]);
    // The media check goes through whichever relays were allocated (over TCP when UDP is blocked, say).
    const working = transports.filter((_, index) => relays[index].status === "pass");
    const relayServers = working.flatMap((transport) => serversFor(kinds.get(transport) ?? []));
    record(await checkMedia(relayServers, 2 * timeout));
  }
  const checks = CONNECTION_CHECKS.flatMap((id) => results.get(id) ?? []);
  return {
    ok: checks.every((result) => result.status !== "fail"),
    checks,
    clientAddress: signaling.clientAddress,
    testedAt,
  };
}

/**
 * Send a test's results to the site, for its support staff (the admin lists them). Resolves with the reference
 * they are kept under: what a user quotes to support.
 * @param {{ signalUrl: string, timeout?: number }} options
 * @param {ConnectionReport} report
 * @returns {Promise<{ id: string }>}
 */
export async function sendConnectionReport(options, report) {
  const url = signalingUrl(options.signalUrl, null);
  const outcome = await exchange(
    url,
    { t: "connection-report", report: { checks: report.checks } },
    "connection-report-received",
    options.timeout ?? CHECK_TIMEOUT,
  );
  if ("frame" in outcome) return { id: String(outcome.frame.id) };
  if ("refused" in outcome) {
    throw new WebRTCCallError(outcome.refused.code ?? "connection-report-refused", String(outcome.refused.message));
  }
  throw new WebRTCCallError(
    "connection-report-failed",
    "The report could not be sent: the signaling server could not be reached.",
  );
}

/**
 * One request on a socket of its own, and the frame that answers it.
 * @template {ServerMessage["t"]} T
 * @param {string} url
 * @param {Record<string, unknown>} request
 * @param {T} replyType
 * @param {number} timeout
 * @returns {Promise<ExchangeOutcome<Extract<ServerMessage, { t: T }>>>}
 */
function exchange(url, request, replyType, timeout) {
  return new Promise((resolve) => {
    let settled = false;
    /** @param {ExchangeOutcome<Extract<ServerMessage, { t: T }>>} outcome */
    const finish = (outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve(outcome);
    };
    const socket = new SignalingSocket(url, {
      onMessage: (message) => {
        if (message.t === replyType) finish({ frame: /** @type {Extract<ServerMessage, { t: T }>} */ (message) });
        else if (message.t === "error") finish({ refused: message });
      },
      onClose: (event) => finish({ closed: event.code }),
    });
    const timer = setTimeout(() => finish({ timedOut: true }), timeout);
    socket.opened().then(
      () => socket.send(request),
      () => {},
    );
  });
}

/**
 * @param {string} signalUrl
 * @param {number} timeout
 * @returns {Promise<{ check: ConnectionCheck, iceServers: RTCIceServer[] | null, clientAddress: string | null }>}
 */
async function checkSignaling(signalUrl, timeout) {
  const started = performance.now();
  let url;
  try {
    url = signalingUrl(signalUrl, null);
  } catch (error) {
    return {
      check: check("signaling", "fail", String(/** @type {Error} */ (error).message)),
      iceServers: null,
      clientAddress: null,
    };
  }
  const host = new URL(url).host;
  const outcome = await exchange(url, { t: "connection-test" }, "connection-test", timeout);
  const ms = elapsed(started);
  if ("frame" in outcome) {
    const { iceServers, clientAddress } = outcome.frame;
    return {
      check: check("signaling", "pass", `Connected to the signaling server (${host}) in ${ms} ms.`, { ms }),
      iceServers: Array.isArray(iceServers) ? iceServers : null,
      clientAddress: typeof clientAddress === "string" ? clientAddress : null,
    };
  }
  if ("refused" in outcome && isUnknownType(outcome.refused)) {
    // A server of Agentuity's protocol (no extensions): the socket works; it names no ICE servers of its own.
    return {
      check: check(
        "signaling",
        "pass",
        `Connected to the signaling server (${host}) in ${ms} ms; it offers no ICE ` +
          "servers of its own, so the rest is tested with the page's (or the client's default).",
        { ms },
      ),
      iceServers: null,
      clientAddress: null,
    };
  }
  let message;
  if ("refused" in outcome) {
    message = `The signaling server refused the test: ${outcome.refused.message}`;
  } else if ("closed" in outcome) {
    const why = FINAL_CLOSE_CODES.get(outcome.closed);
    message =
      `Could not open the signaling connection to ${host} (closed with code ${outcome.closed}${why ? `, ${why}` : ""}). ` +
      "A firewall, proxy or browser extension may block WebSockets to this site; calls cannot start without it.";
  } else {
    message =
      `The signaling server (${host}) did not answer within ${seconds(timeout)}: the network may be too slow, ` +
      "or a proxy holds WebSocket connections.";
  }
  return { check: check("signaling", "fail", message, { ms }), iceServers: null, clientAddress: null };
}

/**
 * Whether an `error` frame says the server does not know the message (Agentuity's and ours word it alike).
 * @param {ErrorMessage} error
 */
function isUnknownType(error) {
  return error.code === "unknown-type" || String(error.message ?? "").startsWith("Unknown message type");
}

/**
 * @param {Map<IceUrlKind, { url: string, server: RTCIceServer }[]>} kinds
 * @param {number} timeout
 * @returns {Promise<ConnectionCheck>}
 */
async function checkStun(kinds, timeout) {
  const named = (kinds.get("stun") ?? []).map(({ url }) => url);
  // No STUN server named: a TURN server answers STUN on its UDP port.
  const urls = named.length ? named : (kinds.get("udp") ?? []).map(({ url }) => stunUrlOf(url));
  if (!urls.length) {
    return check(
      "stun",
      "skip",
      "This site names no STUN server (nor TURN over UDP): calls find their way through TURN over TCP or TLS only.",
    );
  }
  const gathered = await gather({ iceServers: [{ urls }] }, timeout, (candidate) => candidate.type === "srflx");
  const ms = Math.round(gathered.ms);
  if (gathered.found) {
    const address = gathered.found.address ?? "";
    return check("stun", "pass", `The STUN server answered in ${ms} ms: this network's public address is ${address}.`, {
      ms,
      address,
    });
  }
  if (gathered.complete && !gathered.errors.length) {
    // Gathering ended without an error, so the server answered; the browser leaves out a reflexive candidate
    // that equals a host one: this device's own address is the public one.
    const host = gathered.candidates.find(
      (candidate) => candidate.type === "host" && !candidate.address?.endsWith(".local"),
    );
    const address = host?.address ?? "";
    return check(
      "stun",
      "pass",
      `The STUN server answered in ${ms} ms: this device's own address${address ? ` (${address})` : ""} ` +
        "is its public one, with no NAT in between.",
      address ? { ms, address } : { ms },
    );
  }
  const error = gathered.errors[0];
  const message = error
    ? `Could not reach the STUN server ${error.url} (${error.code} ${error.text}).`
    : `The STUN server (${urls.join(", ")}) did not answer within ${seconds(timeout)}: this network probably blocks UDP. ` +
      "Calls can still go through the TURN relay over TCP or TLS, if those pass.";
  return check("stun", "fail", message, { ms });
}

/**
 * @param {"udp" | "tcp" | "tls"} transport
 * @param {{ url: string, server: RTCIceServer }[]} entries
 * @param {number} timeout
 * @returns {Promise<ConnectionCheck>}
 */
async function checkTurn(transport, entries, timeout) {
  const id = /** @type {ConnectionCheckId} */ (`turn-${transport}`);
  const name = TRANSPORT_NAMES[transport];
  if (!entries.length) return check(id, "skip", `This site offers no TURN relay over ${name}.`);
  const urls = entries.map(({ url }) => url).join(", ");
  const gathered = await gather(
    { iceServers: serversFor(entries), iceTransportPolicy: "relay" },
    timeout,
    (candidate) => candidate.type === "relay",
  );
  const ms = Math.round(gathered.ms);
  if (gathered.found)
    return check(id, "pass", `The TURN server gave a relay over ${name} in ${ms} ms (${urls}).`, { ms });
  const error = gathered.errors[0];
  let message;
  if (error?.code === 401) {
    message =
      `The TURN server refused the site's credentials over ${name} (401 Unauthorized): the site's TURN ` +
      "settings (secret, realm) or its clock do not match the TURN server's. This is for the site's staff to fix.";
  } else if (error?.code === 701) {
    message =
      `Could not reach the TURN server over ${name} (${urls}): a firewall or proxy on this network may block it` +
      (transport === "tls" ? ", or the server's certificate is not trusted." : ".");
  } else if (error) {
    message = `The TURN server answered ${error.code} ${error.text} over ${name} (${urls}).`;
  } else {
    message =
      `No answer from the TURN server over ${name} within ${seconds(timeout)} (${urls}): this network may block ` +
      `${transport === "udp" ? "UDP" : "the port"}.`;
  }
  return check(id, "fail", message, { ms });
}

/**
 * Media through the relay and back: two connections in this page, both relay only, one sending video (drawn on a
 * canvas, no camera) and echoing data; the round trip is timed over a data channel.
 * @param {RTCIceServer[]} relays
 * @param {number} timeout
 * @returns {Promise<ConnectionCheck>}
 */
async function checkMedia(relays, timeout) {
  if (!relays.length) return check("media", "skip", "Not tested: no TURN relay could be allocated.");
  const started = performance.now();
  /** @type {RTCConfiguration} */
  const configuration = { iceServers: relays, iceTransportPolicy: "relay" };
  /** @type {RTCPeerConnection | null} */
  let sender = null;
  /** @type {RTCPeerConnection | null} */
  let receiver = null;
  const video = canvasVideo();
  let step = "connect";
  try {
    sender = new RTCPeerConnection(configuration);
    receiver = new RTCPeerConnection(configuration);
    const [from, to] = [sender, receiver];
    from.addEventListener(
      "icecandidate",
      ({ candidate }) => candidate && to.addIceCandidate(candidate).catch(() => {}),
    );
    to.addEventListener(
      "icecandidate",
      ({ candidate }) => candidate && from.addIceCandidate(candidate).catch(() => {}),
    );
    to.addEventListener("datachannel", ({ channel }) => {
      channel.addEventListener("message", (event) => channel.send(event.data));
    });
    if (video) sender.addTrack(video.track, video.stream);
    const channel = sender.createDataChannel("connection-test");
    const deadline = started + timeout;
    await sender.setLocalDescription();
    await receiver.setRemoteDescription(/** @type {RTCSessionDescription} */ (sender.localDescription));
    await receiver.setLocalDescription();
    await sender.setRemoteDescription(/** @type {RTCSessionDescription} */ (receiver.localDescription));
    await within(deadline, opened(channel));
    step = "data";
    /** @type {number[]} */
    const trips = [];
    for (let ping = 0; ping < PINGS; ping += 1) trips.push(await within(deadline, roundTrip(channel)));
    trips.sort((a, b) => a - b);
    const rttMs = Math.round(trips[Math.floor(trips.length / 2)] * 10) / 10;
    step = "video";
    if (video) await within(deadline, framesArrive(receiver));
    const pair = summarize(await sender.getStats(), null).summary.candidatePair;
    const over = pair?.relayProtocol
      ? ` over ${TRANSPORT_NAMES[/** @type {"udp" | "tcp" | "tls"} */ (pair.relayProtocol)] ?? pair.relayProtocol}`
      : "";
    const what = video ? "Video and data" : "Data";
    return check("media", "pass", `${what} went out through the relay${over} and came back: round trip ${rttMs} ms.`, {
      ms: elapsed(started),
      rttMs,
    });
  } catch {
    const ms = elapsed(started);
    const message = {
      connect: `Could not connect through the relay within ${seconds(timeout)}: the TURN server gave relays but did not carry traffic between them.`,
      data: `Connected through the relay, but data did not come back within ${seconds(timeout)}.`,
      video: `Data went through the relay, but no video arrived within ${seconds(timeout)}: video calls may fail on this network.`,
    }[step];
    return check("media", "fail", message ?? "The media check failed.", { ms });
  } finally {
    video?.stop();
    sender?.close();
    receiver?.close();
  }
}

/**
 * The RTCIceServer entries for some URLs, each with its server's credentials.
 * @param {{ url: string, server: RTCIceServer }[]} entries
 * @returns {RTCIceServer[]}
 */
function serversFor(entries) {
  return entries.map(({ url, server }) => ({ urls: url, username: server.username, credential: server.credential }));
}

/**
 * Gather candidates with `configuration` until one is `wanted`, gathering ends (`complete`: every server answered
 * or failed), or `timeout` passes.
 * @param {RTCConfiguration} configuration
 * @param {number} timeout
 * @param {(candidate: RTCIceCandidate) => boolean} wanted
 * @returns {Promise<{ found: RTCIceCandidate | null, complete: boolean, candidates: RTCIceCandidate[],
 *   errors: { url: string, code: number, text: string }[], ms: number }>}
 */
async function gather(configuration, timeout, wanted) {
  const started = performance.now();
  let pc;
  try {
    pc = new RTCPeerConnection(configuration);
  } catch (error) {
    // A server entry the browser refuses (a malformed URL, say): reported as that server's failure.
    const url = (configuration.iceServers ?? []).flatMap((server) => [server.urls].flat()).join(", ");
    return {
      found: null,
      complete: false,
      candidates: [],
      errors: [{ url, code: 0, text: String(/** @type {Error} */ (error).message) }],
      ms: 0,
    };
  }
  /** @type {RTCIceCandidate[]} */
  const candidates = [];
  /** @type {{ url: string, code: number, text: string }[]} */
  const errors = [];
  let complete = false;
  try {
    const found = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeout);
      /** @param {RTCIceCandidate | null} result */
      const done = (result) => {
        clearTimeout(timer);
        resolve(result);
      };
      pc.addEventListener("icecandidate", ({ candidate }) => {
        if (!candidate) {
          complete = true;
          return done(null);
        }
        candidates.push(candidate);
        if (wanted(candidate)) done(candidate);
      });
      pc.addEventListener("icecandidateerror", (event) => {
        const error = /** @type {RTCPeerConnectionIceErrorEvent} */ (event);
        errors.push({ url: error.url, code: error.errorCode, text: error.errorText });
      });
      pc.createDataChannel("connection-test");
      pc.setLocalDescription().catch(() => done(null));
    });
    return { found, complete, candidates, errors, ms: performance.now() - started };
  } finally {
    pc.close();
  }
}

/**
 * A moving picture drawn on a canvas, as a video track: media to send without a camera. Null outside a page.
 * @returns {{ track: MediaStreamTrack, stream: MediaStream, stop: () => void } | null}
 */
function canvasVideo() {
  if (typeof document === "undefined") return null;
  const canvas = document.createElement("canvas");
  canvas.width = 320;
  canvas.height = 240;
  const context = canvas.getContext("2d");
  if (!context || typeof canvas.captureStream !== "function") return null;
  let frame = 0;
  const draw = () => {
    frame += 1;
    context.fillStyle = `hsl(${(frame * 7) % 360} 70% 50%)`;
    context.fillRect(0, 0, canvas.width, canvas.height);
  };
  draw();
  const interval = setInterval(draw, 40);
  const stream = canvas.captureStream(25);
  const [track] = stream.getVideoTracks();
  return {
    track,
    stream,
    stop: () => {
      clearInterval(interval);
      track.stop();
    },
  };
}

/**
 * @template T
 * @param {number} deadline
 * @param {Promise<T>} promise
 * @returns {Promise<T>}
 */
function within(deadline, promise) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timed out")), Math.max(0, deadline - performance.now()));
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** @param {RTCDataChannel} channel @returns {Promise<void>} */
function opened(channel) {
  if (channel.readyState === "open") return Promise.resolve();
  return new Promise((resolve) => channel.addEventListener("open", () => resolve(), { once: true }));
}

/** @param {RTCDataChannel} channel @returns {Promise<number>} milliseconds */
function roundTrip(channel) {
  return new Promise((resolve) => {
    const sent = performance.now();
    const token = String(sent);
    /** @param {MessageEvent} event */
    const back = (event) => {
      if (event.data !== token) return;
      channel.removeEventListener("message", back);
      resolve(performance.now() - sent);
    };
    channel.addEventListener("message", back);
    channel.send(token);
  });
}

/** @param {RTCPeerConnection} receiver @returns {Promise<void>} once a video frame was decoded */
async function framesArrive(receiver) {
  while (receiver.connectionState !== "closed") {
    const stats = await receiver.getStats();
    for (const entry of stats.values()) {
      if (entry.type === "inbound-rtp" && entry.kind === "video" && entry.framesDecoded > 0) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
