// The React test page: a component that re-renders every 20 ms and passes every option inline (new objects and
// closures on each render), in StrictMode (effects mount, unmount and mount again). Bundled by the tests.
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";

import { useWebRTCCall } from "../../frontend/static/frontend/webrtc/react.js";

const params = new URLSearchParams(location.search);
window.renders = 0;
window.received = [];
window.peerConnections = 0;
const NativePeerConnection = window.RTCPeerConnection;
window.RTCPeerConnection = class extends NativePeerConnection {
  constructor(...args) {
    super(...args);
    window.peerConnections += 1;
  }
};

function App() {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((value) => value + 1), 20);
    return () => clearInterval(timer);
  }, []);
  window.renders += 1;
  const call = useWebRTCCall({
    roomId: params.get("room"),
    signalUrl: "/api/call/signal",
    media: { video: { width: 320, height: 240 }, audio: true },
    dataChannels: [{ label: "chat", ordered: true }],
    iceServers: [],
    callbacks: {
      onDataChannelMessage: (from, label, data) => window.received.push({ tick, from, label, data }),
    },
  });
  window.hook = call;
  return (
    <div>
      <p id="state">{call.state}</p>
      <p id="peer">{call.peerId}</p>
      <p id="peers">{call.remotePeerIds.join(",")}</p>
      <p id="tick">{tick}</p>
      <video id="local" ref={call.localVideoRef} autoPlay muted playsInline />
    </div>
  );
}

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
