// The data chat demo page: a data-only call (no camera, no microphone), text and small files peer to peer.

import { WebRTCCall } from "../webrtc/index.js";

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ ($(id));
const app = $("app");
/** One data channel message carries a whole file (Chromium's SCTP messages reach 256 KiB). */
const MAX_FILE_BYTES = 200 * 1024;

/** @type {Map<string, { name: string, type: string }>} the file each peer announced, waiting for its bytes */
const announced = new Map();

/**
 * @param {string} who
 * @param {string | Node} body
 */
function append(who, body) {
  const item = document.createElement("li");
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = `${who} `;
  item.append(from, body);
  $("messages").append(item);
}

const call = new WebRTCCall({
  roomId: app.dataset.room ?? "",
  signalUrl: app.dataset.signal ?? "",
  media: false,
  dataChannels: [{ label: "chat", ordered: true }, { label: "file", ordered: true }],
  autoConnect: false,
  callbacks: {
    onPeerJoined: (peerId) => append("·", `${peerId} joined`),
    onPeerLeft: (peerId, reason) => append("·", `${peerId} left (${reason})`),
    onDataChannelMessage: (from, label, data) => {
      if (label === "chat" && typeof data === "string") {
        append(from, data);
      } else if (label === "file" && typeof data === "string") {
        try {
          announced.set(from, JSON.parse(data));
        } catch {
          // Not a file announcement: ignore it.
        }
      } else if (label === "file" && data instanceof ArrayBuffer) {
        const meta = announced.get(from) ?? { name: "file", type: "application/octet-stream" };
        announced.delete(from);
        const link = document.createElement("a");
        link.href = URL.createObjectURL(new Blob([data], { type: meta.type }));
        link.download = meta.name;
        link.textContent = `${meta.name} (${data.byteLength} bytes)`;
        append(from, link);
      }
    },
    onError: (error) => console.warn("call error:", error),
  },
});
// For the browser console.
Object.assign(window, { call });

function render() {
  const s = call.getSnapshot();
  const active = s.state !== "idle";
  $("state").textContent = s.state;
  $("peer-id").textContent = s.peerId ?? "–";
  $("peers").textContent = s.remotePeerIds.length ? s.remotePeerIds.join(", ") : "none";
  $("reconnecting").hidden = s.reconnectAttempt === 0;
  $("error").hidden = !s.error;
  $("error").textContent = s.error ? s.error.message : "";
  /** @type {HTMLButtonElement} */ ($("join")).disabled = active;
  /** @type {HTMLButtonElement} */ ($("hangup")).disabled = !active;
  for (const id of ["message", "send", "file"]) /** @type {HTMLInputElement} */ ($(id)).disabled = s.state !== "connected";
}
call.subscribe(render);
render();

$("join").addEventListener("click", () => void call.connect());
$("hangup").addEventListener("click", () => call.hangup());
$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input("message").value;
  if (!text) return;
  const reached = call.sendString("chat", text);
  append("you", reached ? text : `${text} (not delivered: no peer connected)`);
  input("message").value = "";
});
input("file").addEventListener("change", async () => {
  const file = input("file").files?.[0];
  input("file").value = "";
  if (!file) return;
  if (file.size > MAX_FILE_BYTES) {
    append("·", `${file.name} is over ${MAX_FILE_BYTES / 1024} KiB: not sent`);
    return;
  }
  call.sendJSON("file", { name: file.name, type: file.type || "application/octet-stream" });
  const reached = call.sendBinary("file", await file.arrayBuffer());
  append("you", `sent ${file.name} to ${reached} peer(s)`);
});
