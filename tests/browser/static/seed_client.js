// A minimal client that behaves as the seed's browser client (@agentuity/frontend's WebRTCManager) does where it
// matters to a server and to other clients: it speaks only the seed's core protocol and ignores every other frame
// and field, it decides politeness as the seed does (polite = !(myId > theirId)), it hangs up with ws.close()
// (no status code), and the joiner offers to every peer it found. Written for the tests, not a copy of the seed.
"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  const roomId = params.get("room");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/api/call/signal`);
  const seed = { myId: null, peers: new Map(), received: [], left: [], errors: [], ws };
  window.seed = seed;

  const send = (message) => ws.send(JSON.stringify(message));

  function connect(remoteId, initiator) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    const peer = { pc, makingOffer: false, ignoreOffer: false, polite: !(seed.myId > remoteId), channels: new Map() };
    seed.peers.set(remoteId, peer);
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) send({ t: "ice", to: remoteId, candidate: candidate.toJSON() });
    };
    pc.onnegotiationneeded = async () => {
      try {
        peer.makingOffer = true;
        await pc.setLocalDescription();
        send({ t: "sdp", to: remoteId, description: pc.localDescription.toJSON() });
      } catch (error) {
        seed.errors.push(String(error));
      } finally {
        peer.makingOffer = false;
      }
    };
    pc.ondatachannel = ({ channel }) => keep(remoteId, channel);
    if (initiator) keep(remoteId, pc.createDataChannel("chat"));
    return peer;
  }

  function keep(remoteId, channel) {
    seed.peers.get(remoteId).channels.set(channel.label, channel);
    channel.onmessage = ({ data }) => seed.received.push([remoteId, channel.label, data]);
  }

  async function onDescription(from, description) {
    const peer = seed.peers.get(from) ?? connect(from, false);
    const { pc } = peer;
    const collision = description.type === "offer" && (peer.makingOffer || pc.signalingState !== "stable");
    peer.ignoreOffer = !peer.polite && collision;
    if (peer.ignoreOffer) return;
    await pc.setRemoteDescription(description);
    if (description.type === "offer") {
      await pc.setLocalDescription();
      send({ t: "sdp", to: from, description: pc.localDescription.toJSON() });
    }
  }

  ws.onopen = () => send({ t: "join", roomId });
  // Messages are handled one after another, in arrival order (a description applied before the candidates and the
  // next description that follow it), as a perfect-negotiation client must.
  let handled = Promise.resolve();
  ws.onmessage = ({ data }) => {
    handled = handled.then(() => handle(JSON.parse(data)));
  };

  async function handle(message) {
    try {
      switch (message.t) {
        case "joined":
          seed.myId = message.peerId;
          for (const id of message.peers) connect(id, true);
          break;
        case "peer-joined":
          break; // the joiner offers
        case "peer-left":
          seed.left.push(message.peerId);
          seed.peers.get(message.peerId)?.pc.close();
          seed.peers.delete(message.peerId);
          break;
        case "sdp":
          await onDescription(message.from, message.description);
          break;
        case "ice":
          try {
            await (seed.peers.get(message.from) ?? connect(message.from, false)).pc.addIceCandidate(message.candidate);
          } catch (error) {
            if (!seed.peers.get(message.from)?.ignoreOffer) throw error;
          }
          break;
        case "error":
          seed.errors.push(message.message);
          break;
        default:
          break; // unknown frames are ignored
      }
    } catch (error) {
      seed.errors.push(String(error));
    }
  }

  seed.hangup = () => {
    for (const peer of seed.peers.values()) peer.pc.close();
    ws.close();
  };
})();
