// The peer link's negotiation queue and the signaling connection's reconnection, against fakes of the browser's
// RTCPeerConnection and WebSocket (Node has neither), with mocked timers instead of real waits.
import assert from "node:assert/strict";
import { mock, test } from "node:test";

/** Fake setTimeout (Node 20.11+ takes an options object, earlier releases a list of the timers to fake). */
function enableTimers() {
  try {
    mock.timers.enable({ apis: ["setTimeout"] });
  } catch {
    mock.timers.enable(/** @type {any} */ (["setTimeout"]));
  }
}

class FakeEventTarget {
  constructor() {
    this.listeners = new Map();
  }
  addEventListener(type, fn) {
    (this.listeners.get(type) ?? this.listeners.set(type, []).get(type)).push(fn);
  }
  removeEventListener(type, fn) {
    this.listeners.set(
      type,
      (this.listeners.get(type) ?? []).filter((f) => f !== fn),
    );
  }
  dispatch(type, event = {}) {
    for (const fn of [...(this.listeners.get(type) ?? [])]) fn(event);
  }
}

/** Applies remote descriptions after a delay that differs per call, so a queue that does not wait reorders them. */
class FakePeerConnection extends FakeEventTarget {
  static delays = [30, 5, 15, 1];
  constructor() {
    super();
    this.applied = [];
    this.signalingState = "stable";
    this.connectionState = "new";
    this.iceGatheringState = "new";
    this.localDescription = null;
    this.calls = 0;
  }
  async setRemoteDescription(description) {
    const delay = FakePeerConnection.delays[this.calls++ % FakePeerConnection.delays.length];
    await new Promise((resolve) => setTimeout(resolve, delay));
    this.applied.push(description.sdp);
    this.signalingState = description.type === "offer" ? "have-remote-offer" : "stable";
  }
  async setLocalDescription(description) {
    if (description?.type === "rollback") {
      this.applied.push("rollback");
      this.signalingState = "stable";
      return;
    }
    const answering = this.signalingState === "have-remote-offer";
    this.localDescription = { type: answering ? "answer" : "offer", sdp: "local" };
    this.signalingState = answering ? "stable" : "have-local-offer";
  }
  getConfiguration() {
    return this.configuration ?? {};
  }
  setConfiguration(configuration) {
    this.configuration = configuration;
  }
  restartIce() {
    this.restarts = (this.restarts ?? 0) + 1;
  }
  /** A selected pair whose local candidate is of type `this.localType`. */
  async getStats() {
    return new Map([
      ["T", { type: "transport", selectedCandidatePairId: "P" }],
      ["P", { type: "candidate-pair", localCandidateId: "L" }],
      ["L", { type: "local-candidate", candidateType: this.localType ?? "host" }],
    ]);
  }
  async addIceCandidate(candidate) {
    this.applied.push(`ice:${candidate.candidate}`);
  }
  addTransceiver() {}
  addTrack() {}
  getTransceivers() {
    return [];
  }
  getSenders() {
    return [];
  }
  createDataChannel() {
    return new FakeEventTarget();
  }
  close() {}
}

globalThis.RTCPeerConnection = FakePeerConnection;
globalThis.MediaStream = class {
  getTracks() {
    return [];
  }
};

const { PeerLink, ANSWER_TIMEOUT } = await import("../../frontend/static/frontend/webrtc/peer.js");

function link(polite) {
  const sent = [];
  const errors = [];
  const restarts = [];
  const peer = new PeerLink({
    remoteId: "peer-remote",
    polite,
    initiator: false,
    iceServers: [],
    tracks: [],
    stream: null,
    dataChannels: () => [],
    connectionTimeout: 60000,
    iceGatheringTimeout: 60000,
    events: {
      signal: (m) => sent.push(m),
      onRemoteStream() {},
      onConnectionStateChange() {},
      onChannelOpen() {},
      onChannelClose() {},
      onChannelMessage() {},
      onError: (e) => errors.push(e),
      onIceRestart: () => restarts.push(Date.now()),
    },
  });
  return { peer, sent, errors, restarts };
}

test("remote descriptions and candidates are applied one at a time, in arrival order", async () => {
  const { peer, sent, errors } = link(true);
  peer.handleDescription({ type: "offer", sdp: "o1" });
  peer.handleCandidate({ candidate: "c1" });
  peer.handleDescription({ type: "offer", sdp: "o2" });
  peer.handleCandidate({ candidate: "c2" });
  await peer.incoming;
  assert.deepEqual(peer.pc.applied, ["o1", "ice:c1", "o2", "ice:c2"]);
  assert.deepEqual(
    sent.filter((m) => m.t === "sdp").map((m) => m.description.type),
    ["answer", "answer"],
  );
  assert.deepEqual(errors, []);
  peer.close();
});

test("glare: the impolite side ignores the colliding offer, the polite side yields", async () => {
  const impolite = link(false);
  impolite.peer.makingOffer = true;
  impolite.peer.handleDescription({ type: "offer", sdp: "theirs" });
  await impolite.peer.incoming;
  assert.deepEqual(impolite.peer.pc.applied, []);
  assert.equal(impolite.peer.ignoreOffer, true);
  impolite.peer.close();

  const polite = link(true);
  polite.peer.makingOffer = true;
  polite.peer.handleDescription({ type: "offer", sdp: "theirs" });
  await polite.peer.incoming;
  assert.deepEqual(polite.peer.pc.applied, ["theirs"]);
  polite.peer.close();
});

test("one offer at a time; one left unanswered is rolled back and made again", async () => {
  const { peer, sent, errors } = link(false);
  const offers = () => sent.filter((m) => m.t === "sdp" && m.description.type === "offer").length;
  await peer.offer();
  assert.equal(peer.pc.signalingState, "have-local-offer");
  assert.equal(offers(), 1);
  assert.ok(peer.timers.has("answer"), "the answer is waited for");
  assert.ok(ANSWER_TIMEOUT >= 5000, "long enough for a slow answer");
  // Another negotiation while ours is out waits for it (negotiationneeded fires again once stable).
  await peer.offer();
  assert.equal(offers(), 1);
  // What the timer runs: take ours back, offer again.
  peer.offerAgain();
  await peer.incoming;
  assert.deepEqual(peer.pc.applied, ["rollback"]);
  assert.equal(offers(), 2);
  assert.equal(peer.pc.signalingState, "have-local-offer");
  // Answered: the wait is over.
  peer.handleDescription({ type: "answer", sdp: "a1" });
  await peer.incoming;
  assert.equal(peer.pc.signalingState, "stable");
  assert.equal(peer.timers.has("answer"), false);
  // An answered offer is never taken back.
  peer.offerAgain();
  await peer.incoming;
  assert.deepEqual(peer.pc.applied, ["rollback", "a1"]);
  assert.deepEqual(errors, []);
  peer.close();
});

test("fresh ICE servers: set on the connection (its policy kept); a relayed path restarts onto them", async () => {
  const servers = [{ urls: "turn:turn.example:3478", username: "2:p", credential: "c2" }];
  const direct = link(true);
  direct.peer.pc.configuration = { iceServers: [], iceTransportPolicy: "all" };
  await direct.peer.useIceServers(servers);
  assert.deepEqual(direct.peer.pc.configuration, { iceServers: servers, iceTransportPolicy: "all" });
  assert.equal(direct.peer.pc.restarts, undefined, "a direct path keeps going as it is");
  assert.deepEqual(direct.restarts, []);
  direct.peer.close();

  const relayed = link(true);
  relayed.peer.pc.configuration = { iceServers: [], iceTransportPolicy: "relay" };
  relayed.peer.pc.localType = "relay";
  await relayed.peer.useIceServers(servers);
  assert.deepEqual(relayed.peer.pc.configuration, { iceServers: servers, iceTransportPolicy: "relay" });
  assert.equal(relayed.peer.pc.restarts, 1);
  assert.equal(relayed.restarts.length, 1);
  assert.deepEqual(relayed.errors, []);
  relayed.peer.close();
});

class FakeWebSocket extends FakeEventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static opened = [];
  constructor(url) {
    super();
    this.url = url;
    this.readyState = FakeWebSocket.CONNECTING;
    this.sent = [];
    FakeWebSocket.opened.push(this);
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  close(code) {
    this.readyState = 3;
    this.closedWith = code;
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.dispatch("close", { code });
  }
}
globalThis.WebSocket = FakeWebSocket;

const { SignalingConnection } = await import("../../frontend/static/frontend/webrtc/connection.js");

test("the connection backs off between attempts and gives up after the last, with explicit states", () => {
  enableTimers();
  try {
    FakeWebSocket.opened = [];
    const states = [];
    const ended = [];
    const connection = new SignalingConnection({
      url: () => "ws://test/signal",
      joinMessage: () => ({ t: "join", roomId: "r" }),
      connectionTimeout: 30000,
      autoReconnect: true,
      maxReconnectAttempts: 3,
      events: {
        onMessage() {},
        onStateChange: (s) => states.push(s),
        onReconnecting() {},
        onEnd: (e) => ended.push(e.code),
      },
    });
    connection.start();
    assert.equal(connection.state, "connecting");
    FakeWebSocket.opened[0].drop();
    assert.equal(connection.state, "reconnecting");
    assert.equal(FakeWebSocket.opened.length, 1);
    mock.timers.tick(500); // attempt 1: at most 500 ms
    assert.equal(FakeWebSocket.opened.length, 2);
    FakeWebSocket.opened[1].drop();
    mock.timers.tick(1000); // attempt 2: at most 1 s
    assert.equal(FakeWebSocket.opened.length, 3);
    FakeWebSocket.opened[2].drop();
    mock.timers.tick(2000);
    FakeWebSocket.opened[3].drop();
    assert.deepEqual(ended, ["reconnect-failed"]);
    assert.equal(connection.state, "closed");
    assert.deepEqual(states, ["connecting", "reconnecting", "closed"]);
  } finally {
    mock.timers.reset();
  }
});

test("a final close code ends the connection at once, with the server's reason", () => {
  FakeWebSocket.opened = [];
  const ended = [];
  const connection = new SignalingConnection({
    url: () => "ws://test/signal",
    joinMessage: () => ({ t: "join", roomId: "r" }),
    connectionTimeout: 30000,
    autoReconnect: true,
    maxReconnectAttempts: 3,
    events: { onMessage() {}, onStateChange() {}, onReconnecting() {}, onEnd: (e) => ended.push(e.code) },
  });
  connection.start();
  const socket = FakeWebSocket.opened[0];
  socket.dispatch("message", { data: JSON.stringify({ t: "closed", reason: "kicked" }) });
  socket.drop(4010);
  assert.deepEqual(ended, ["kicked"]);
  assert.equal(FakeWebSocket.opened.length, 1);
});

const { testConnection } = await import("../../frontend/static/frontend/webrtc/connectiontest.js");

/** Run a connection test whose socket `answer`s the first frame the client sends (no ICE servers to test). */
async function testWith(answer) {
  FakeWebSocket.opened = [];
  const running = testConnection({ signalUrl: "ws://site.test/api/call/signal", iceServers: [], timeout: 500 });
  const socket = FakeWebSocket.opened[0];
  assert.equal(socket.url, "ws://site.test/api/call/signal"); // no ?room=: the test joins none
  socket.readyState = FakeWebSocket.OPEN;
  socket.dispatch("open");
  await new Promise((resolve) => setTimeout(resolve, 0));
  answer(socket);
  return running;
}

test("the connection test of a server that knows the extension, of one that does not, and of none", async () => {
  const ours = await testWith((socket) => {
    assert.deepEqual(socket.sent, [{ t: "connection-test" }]);
    socket.dispatch("message", { data: JSON.stringify({ t: "connection-test", clientAddress: "203.0.113.7" }) });
  });
  assert.equal(ours.ok, true);
  assert.equal(ours.clientAddress, "203.0.113.7");
  assert.deepEqual(
    ours.checks.map((c) => [c.id, c.status]),
    [
      ["signaling", "pass"],
      ["stun", "skip"],
      ["turn-udp", "skip"],
      ["turn-tcp", "skip"],
      ["turn-tls", "skip"],
      ["media", "skip"],
    ],
  );

  // Agentuity's server answers an unknown frame with an error: its socket works all the same.
  const theirs = await testWith((socket) => {
    socket.dispatch("message", {
      data: JSON.stringify({ t: "error", message: "Unknown message type: connection-test" }),
    });
  });
  assert.equal(theirs.checks[0].status, "pass");
  assert.match(theirs.checks[0].message, /offers no ICE servers of its own/);

  const refused = await testWith((socket) => {
    socket.dispatch("message", {
      data: JSON.stringify({ t: "error", code: "forbidden", message: "Log in to test your connection" }),
    });
  });
  assert.equal(refused.ok, false);
  assert.match(refused.checks[0].message, /refused the test: Log in to test your connection/);

  const unreachable = await testWith((socket) => socket.drop(1006));
  assert.equal(unreachable.ok, false);
  assert.match(unreachable.checks[0].message, /closed with code 1006/);
  // The rest needs servers to test (none here): not tested, not failed.
  assert.deepEqual(
    unreachable.checks.slice(1).map((c) => c.status),
    ["skip", "skip", "skip", "skip", "skip"],
  );
});
