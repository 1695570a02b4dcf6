// A page that makes calls with Agentuity's own browser client (`WebRTCManager` from `@agentuity/frontend`, the npm
// package, bundled by tests/browser/conftest.py with esbuild): the client of the system this project implements,
// written by others, used as its README shows. The tests read what it saw from `window.agentuity`.
//
// Query parameters: room; media=none for a data-only call; channels=chat,file (data channels it opens, as the
// offerer); reconnect=0 to turn its auto-reconnect off.
import { WebRTCManager } from "@agentuity/frontend";

const params = new URLSearchParams(location.search);
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const channels = (params.get("channels") ?? "chat").split(",").filter(Boolean);

const seen = {
  states: [],
  received: [],
  errors: [],
  joined: [],
  left: [],
  opened: [],
  reconnecting: [],
  reconnected: 0,
  streams: new Map(),
};

const manager = new WebRTCManager({
  signalUrl: `${scheme}//${location.host}/api/call/signal`,
  roomId: params.get("room"),
  // Host candidates only: its default would ask Google's public STUN servers.
  iceServers: [],
  media: params.get("media") === "none" ? false : { video: true, audio: true },
  dataChannels: channels.map((label) => ({ label })),
  autoReconnect: params.get("reconnect") !== "0",
  callbacks: {
    onStateChange: (from, to, reason) => seen.states.push([from, to, reason ?? null]),
    onRemoteStream: (peerId, stream) => seen.streams.set(peerId, stream),
    onPeerJoined: (peerId) => seen.joined.push(peerId),
    onPeerLeft: (peerId) => seen.left.push(peerId),
    onDataChannelOpen: (peerId, label) => seen.opened.push([peerId, label]),
    onDataChannelMessage: (peerId, label, data) =>
      seen.received.push([peerId, label, data instanceof ArrayBuffer ? [...new Uint8Array(data)] : data]),
    onError: (error, state) => seen.errors.push(`${state}: ${error.message}`),
    onReconnecting: (attempt) => seen.reconnecting.push(attempt),
    onReconnected: () => {
      seen.reconnected += 1;
    },
  },
});

window.agentuity = {
  manager,
  seen,
  // Its peer connections and WebSocket are private in TypeScript, not at run time: the tests look at them.
  pc: (peerId) => manager.peers.get(peerId)?.pc ?? null,
  ws: () => manager.ws,
  /**
   * Decode the remote video of `peerId` in a <video>; its size once frames have arrived, and once it is `expected`
   * (a sender starts small and grows as its bandwidth estimate does) or 20 s have passed.
   */
  async videoSize(peerId, expected = null) {
    const deadline = performance.now() + 20000;
    // The stream comes with the offer that carries it: when the other side offered first, that is its re-offer.
    while (!seen.streams.has(peerId) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const stream = seen.streams.get(peerId);
    if (!stream) return null;
    const video = document.createElement("video");
    video.muted = true;
    video.srcObject = stream;
    document.body.append(video);
    await video.play();
    const size = () => [video.videoWidth, video.videoHeight];
    while (
      video.getVideoPlaybackQuality().totalVideoFrames < 5 ||
      (expected && String(size()) !== String(expected) && performance.now() < deadline)
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return size();
  },
  /** The middle of the left and right halves of a decoded frame of `peerId`'s video, with its size. */
  async frameColours(peerId) {
    const size = await window.agentuity.videoSize(peerId);
    if (!size) return null;
    const video = document.body.lastElementChild;
    const canvas = document.createElement("canvas");
    [canvas.width, canvas.height] = size;
    const context = canvas.getContext("2d");
    context.drawImage(video, 0, 0);
    const at = (x, y) => [...context.getImageData(x, y, 1, 1).data.slice(0, 3)];
    return { size, left: at(size[0] / 4, size[1] / 2), right: at((size[0] * 3) / 4, size[1] / 2) };
  },
  /** Packets received so far on the connection to `peerId`, by kind (inbound-rtp statistics). */
  async inboundPackets(peerId) {
    const pc = manager.peers.get(peerId)?.pc;
    const packets = { audio: 0, video: 0 };
    if (!pc) return packets;
    for (const report of (await pc.getStats()).values()) {
      if (report.type === "inbound-rtp") packets[report.kind] += report.packetsReceived ?? 0;
    }
    return packets;
  },
};

manager.connect();
