// A front end that lives outside Django, as most do: it installs the npm package and calls through the server.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import type { WebRTCCallOptions } from "django-rtc-client";
import { useWebRTCCall } from "django-rtc-client/react";

const params = new URLSearchParams(location.search);
const options: WebRTCCallOptions = {
  roomId: params.get("room") ?? "vite",
  signalUrl: params.get("signal") ?? "/api/call/signal",
  media: false,
  dataChannels: [{ label: "chat", ordered: true }],
  metadata: { name: params.get("name") ?? "Vite" },
  iceServers: [],
};

function App() {
  const call = useWebRTCCall(options);
  (window as unknown as { hook: typeof call }).hook = call;
  const names = call.remotePeerIds.map((id) => String(call.peerMetadata.get(id)?.name ?? id));
  return (
    <main>
      <p id="state">{call.state}</p>
      <p id="peers">{names.join(", ")}</p>
    </main>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
