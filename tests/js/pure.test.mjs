// Unit tests of the browser client's pure parts, with Node's built-in runner (`node --test tests/js`).
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

import { reconnectDelay } from "../../frontend/static/frontend/webrtc/backoff.js";
import { SPEAKER_HOLD, levelBetween, pickSpeaker } from "../../frontend/static/frontend/webrtc/levels.js";
import { summarize } from "../../frontend/static/frontend/webrtc/quality.js";
import { signalingUrl } from "../../frontend/static/frontend/webrtc/signaling.js";
import { Timers } from "../../frontend/static/frontend/webrtc/timers.js";

test("backoff doubles up to its cap, within the upper half of each step", () => {
  assert.equal(reconnectDelay(1, { random: () => 0 }), 250);
  assert.equal(reconnectDelay(1, { random: () => 1 }), 500);
  assert.equal(reconnectDelay(3, { random: () => 1 }), 2000);
  assert.equal(reconnectDelay(20, { random: () => 1 }), 15000);
  assert.equal(reconnectDelay(20, { random: () => 0 }), 7500);
  assert.throws(() => reconnectDelay(0), RangeError);
  assert.throws(() => reconnectDelay(1.5), RangeError);
});

test("signaling URLs: paths resolve against the page, http(s) becomes ws(s), the room rides along", () => {
  assert.equal(
    signalingUrl("/api/call/signal", "r1", "https://example.com/call/r1/"),
    "wss://example.com/api/call/signal?room=r1",
  );
  assert.equal(signalingUrl("http://h:8000/s", "a:b", "https://x/"), "ws://h:8000/s?room=a%3Ab");
  assert.equal(signalingUrl("wss://h/s?room=given", "other", "https://x/"), "wss://h/s?room=given");
  assert.throws(() => signalingUrl("ftp://h/s", "r", "https://x/"), TypeError);
});

/** @param {object[]} stats */
const report = (stats) => new Map(stats.map((s, i) => [s.id ?? `s${i}`, s]));

test("quality summary: bitrates between samples, loss, RTT and the path", () => {
  const first = summarize(
    report([{ type: "inbound-rtp", kind: "video", bytesReceived: 1000, timestamp: 1000 }]),
    null,
    5,
  );
  assert.deepEqual(first.summary, { timestamp: 5 });
  const { summary } = summarize(
    report([
      {
        type: "inbound-rtp",
        kind: "video",
        bytesReceived: 126000,
        packetsLost: 1,
        packetsReceived: 99,
        framesPerSecond: 30,
        frameWidth: 640,
        frameHeight: 480,
        timestamp: 2000,
      },
      { type: "inbound-rtp", kind: "audio", bytesReceived: 500, jitter: 0.004, timestamp: 2000 },
      { id: "t", type: "transport", selectedCandidatePairId: "p" },
      { id: "p", type: "candidate-pair", currentRoundTripTime: 0.05, localCandidateId: "l", remoteCandidateId: "r" },
      { id: "l", type: "local-candidate", candidateType: "host" },
      { id: "r", type: "remote-candidate", candidateType: "relay" },
    ]),
    first.sample,
    9,
  );
  assert.equal(summary.bitrate?.video?.inbound, 1_000_000);
  assert.equal(summary.packetLossPercent, 1);
  assert.equal(summary.rtt, 50);
  assert.equal(summary.jitter, 4);
  assert.deepEqual(summary.candidatePair, {
    usingRelay: true,
    localCandidateType: "host",
    remoteCandidateType: "relay",
  });
  assert.deepEqual(summary.video, { framesPerSecond: 30, frameWidth: 640, frameHeight: 480 });
});

test("audio level from cumulative energy, else the instant level", () => {
  assert.equal(levelBetween(undefined, { level: 0.3 }), 0.3);
  assert.equal(levelBetween({ energy: 1, duration: 10 }, { energy: 1.25, duration: 11 }), 0.5);
  assert.equal(levelBetween({ energy: 1, duration: 10 }, { energy: 1, duration: 10, level: 0.2 }), 0.2);
});

test("the active speaker: the loudest, held through pauses, not stolen mid-sentence", () => {
  const loud = new Map();
  assert.equal(
    pickSpeaker(
      null,
      new Map([
        ["a", 0.3],
        ["b", 0.01],
      ]),
      loud,
      0,
    ),
    "a",
  );
  // A pause shorter than the hold keeps the speaker; a longer one ends it.
  assert.equal(
    pickSpeaker(
      "a",
      new Map([
        ["a", 0],
        ["b", 0],
      ]),
      loud,
      SPEAKER_HOLD - 1,
    ),
    "a",
  );
  assert.equal(
    pickSpeaker(
      "a",
      new Map([
        ["a", 0],
        ["b", 0],
      ]),
      loud,
      SPEAKER_HOLD + 1,
    ),
    null,
  );
  // Someone louder does not take over while the speaker still speaks, and does once it pauses.
  assert.equal(
    pickSpeaker(
      "a",
      new Map([
        ["a", 0.1],
        ["b", 0.5],
      ]),
      loud,
      5000,
    ),
    "a",
  );
  assert.equal(
    pickSpeaker(
      "a",
      new Map([
        ["a", 0],
        ["b", 0.5],
      ]),
      loud,
      5100,
    ),
    "b",
  );
  // A speaker who left is nobody.
  assert.equal(pickSpeaker("gone", new Map(), loud, 5200), null);
});

test("timers: a name set again replaces its timer; clearAll stops every one", () => {
  enableTimers();
  try {
    const timers = new Timers();
    const ran = [];
    timers.set("a", 100, () => ran.push("a1"));
    timers.set("a", 200, () => ran.push("a2"));
    timers.set("b", 50, () => ran.push("b"));
    assert.ok(timers.has("a"));
    mock.timers.tick(150);
    assert.deepEqual(ran, ["b"]);
    assert.ok(!timers.has("b"));
    mock.timers.tick(100);
    assert.deepEqual(ran, ["b", "a2"]);
    timers.set("c", 10, () => ran.push("c"));
    timers.clearAll();
    mock.timers.tick(100);
    assert.deepEqual(ran, ["b", "a2"]);
  } finally {
    mock.timers.reset();
  }
});

test("iceUrlKind tells STUN from TURN over UDP, TCP and TLS", async () => {
  const { iceUrlKind, iceUrlsByKind, stunUrlOf } = await import("../../frontend/static/frontend/webrtc/ice.js");
  assert.equal(iceUrlKind("stun:stun.example.com:3478"), "stun");
  assert.equal(iceUrlKind("stuns:stun.example.com:5349"), "stun");
  assert.equal(iceUrlKind("turn:turn.example.com:3478"), "udp");
  assert.equal(iceUrlKind("turn:turn.example.com:3478?transport=udp"), "udp");
  assert.equal(iceUrlKind("TURN:turn.example.com:3478?transport=TCP"), "tcp");
  assert.equal(iceUrlKind("turns:turn.example.com:443?transport=tcp"), "tls");
  assert.equal(iceUrlKind("https://turn.example.com"), null);
  assert.equal(stunUrlOf("turn:turn.example.com:3478?transport=udp"), "stun:turn.example.com:3478");
  const credentials = { username: "1:test-x", credential: "c" };
  const kinds = iceUrlsByKind([
    { urls: "stun:s.example.com" },
    { urls: ["turn:t.example.com?transport=udp", "turn:t.example.com?transport=tcp", "bogus"], ...credentials },
  ]);
  assert.deepEqual([...kinds.keys()], ["stun", "udp", "tcp"]);
  assert.equal(kinds.get("tcp")?.[0].server.username, "1:test-x");
});

test("a socket for no room (a connection test's) carries no ?room=", () => {
  assert.equal(
    signalingUrl("/api/call/signal", null, "https://site.example/test/"),
    "wss://site.example/api/call/signal",
  );
});
