// The data chat demo page: a data-only call (no camera, no microphone), text and files peer to peer, with names.

import { WebRTCCall } from "../webrtc/index.js";
import { $, CHAT_CHANNELS, ChatPanel, alertUser, describeError, nameOf, rememberName, rememberedName } from "./ui.js";

const app = $("app");
const nameInput = /** @type {HTMLInputElement} */ ($("name"));
nameInput.value = app.dataset.userName || rememberedName();
nameInput.readOnly = Boolean(app.dataset.userName);

const call = new WebRTCCall({
  roomId: app.dataset.room ?? "",
  signalUrl: app.dataset.signal ?? "",
  media: false,
  dataChannels: CHAT_CHANNELS,
  autoConnect: false,
  callbacks: {
    onError: (error) => {
      console.warn("call error:", error);
      alertUser(describeError(error));
    },
  },
});
const chat = new ChatPanel(call);
// For the browser console.
Object.assign(window, { call });

function render() {
  const s = call.getSnapshot();
  const active = s.state !== "idle";
  $("state").textContent = s.state;
  $("peer-id").textContent = s.peerId ?? "–";
  const names = s.remotePeerIds.filter((id) => s.peerRoles.get(id) !== "recorder").map((id) => nameOf(call, id));
  $("peers").textContent = !active
    ? "not joined"
    : names.length
      ? names.join(", ")
      : "nobody yet: waiting for others to join…";
  $("reconnecting").hidden = s.reconnectAttempt === 0;
  const recorded = s.isRecordedByServer || [...s.peerMedia.values()].some((media) => media.recording);
  $("recording-indicator").hidden = !recorded;
  /** @type {HTMLButtonElement} */ ($("join")).disabled = active;
  nameInput.disabled = active;
  /** @type {HTMLButtonElement} */ ($("hangup")).disabled = !active;
  for (const id of ["message", "send", "file"])
    /** @type {HTMLInputElement} */ ($(id)).disabled = s.state !== "connected";
}
call.subscribe(render);
render();

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = nameInput.value.trim() || rememberedName();
  rememberName(name);
  // chatOnly: a video page in the same room shows this peer's tile as "chat only", not as a black frame.
  call.setOptions({ ...call.options, metadata: { name, chatOnly: true } });
  void call.connect();
});
$("hangup").addEventListener("click", () => {
  call.hangup();
  chat.reset();
});
