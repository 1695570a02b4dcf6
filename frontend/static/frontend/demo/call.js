// The video call demo page: everything here goes through the public WebRTCCall API.

import { WebRTCCall, uploadRecording } from "../webrtc/index.js";

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
const button = (id) => /** @type {HTMLButtonElement} */ ($(id));
const app = $("app");

const call = new WebRTCCall({
  roomId: app.dataset.room ?? "",
  signalUrl: app.dataset.signal ?? "",
  autoConnect: false,
  callbacks: {
    onError: (error) => console.warn("call error:", error),
  },
});
// For the browser console.
Object.assign(window, { call });
call.attachLocalVideo(/** @type {HTMLVideoElement} */ ($("local-video")));

/** @type {Map<string, HTMLVideoElement>} */
const remoteVideos = new Map();

function render() {
  const s = call.getSnapshot();
  const active = s.state !== "idle";
  $("state").textContent = s.state;
  $("peer-id").textContent = s.peerId ?? "–";
  $("reconnecting").hidden = s.reconnectAttempt === 0;
  $("recording-indicator").hidden = !s.isRecordedByServer;
  $("error").hidden = !s.error;
  $("error").textContent = s.error ? `${s.error.name}: ${s.error.message}` : "";
  button("join").disabled = active;
  button("hangup").disabled = !active;
  for (const id of ["mute-audio", "mute-video", "share", "record"]) button(id).disabled = !active;
  button("mute-audio").textContent = s.isAudioMuted ? "Unmute" : "Mute";
  button("mute-video").textContent = s.isVideoMuted ? "Show video" : "Hide video";
  button("share").textContent = s.isScreenSharing ? "Stop sharing" : "Share screen";
  button("record").textContent = s.recordingStreamIds.length ? "Stop recording" : "Record";

  for (const [peerId, video] of remoteVideos) {
    if (!s.remotePeerIds.includes(peerId)) {
      video.closest("figure")?.remove();
      remoteVideos.delete(peerId);
    }
  }
  for (const peerId of s.remotePeerIds) {
    // A recorder sends nothing to show: the "● Recording" indicator stands for it, not an empty tile.
    if (s.peerRoles.get(peerId) === "recorder") continue;
    let video = remoteVideos.get(peerId);
    if (!video) {
      const tile = document.createElement("figure");
      tile.className = "tile remote";
      tile.dataset.peer = peerId;
      video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      const caption = document.createElement("figcaption");
      const role = s.peerRoles.get(peerId);
      caption.textContent = role ? `${peerId} (${role})` : peerId;
      tile.append(video, caption);
      $("videos").append(tile);
      remoteVideos.set(peerId, video);
    }
    const stream = s.remoteStreams.get(peerId) ?? null;
    if (video.srcObject !== stream) video.srcObject = stream;
  }
}
call.subscribe(render);
render();

/** @param {unknown} error */
function show(error) {
  $("error").hidden = false;
  $("error").textContent = String(error);
}

button("join").addEventListener("click", () => void call.connect());
button("hangup").addEventListener("click", () => call.hangup());
button("mute-audio").addEventListener("click", () => call.muteAudio(!call.isAudioMuted));
button("mute-video").addEventListener("click", () => call.muteVideo(!call.isVideoMuted));
button("share").addEventListener("click", () => {
  (call.isScreenSharing ? call.stopScreenShare() : call.startScreenShare()).catch(show);
});
button("record").addEventListener("click", async () => {
  if (call.getSnapshot().recordingStreamIds.length) {
    const blobs = await call.stopAllRecordings();
    for (const [streamId, blob] of blobs) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      const extension = blob.type.includes("mp4") ? "mp4" : "webm";
      link.href = URL.createObjectURL(blob);
      link.download = `${streamId}-${new Date().toISOString().replace(/[:.]/g, "-")}.${extension}`;
      link.textContent = `${streamId === "local" ? "You" : streamId} (${(blob.size / 1024).toFixed(0)} KiB)`;
      const upload = Object.assign(document.createElement("button"), { type: "button", textContent: "Upload" });
      const progress = Object.assign(document.createElement("progress"), { max: blob.size, value: 0 });
      upload.addEventListener("click", async () => {
        upload.disabled = true;
        try {
          const saved = await uploadRecording(blob, {
            roomId: app.dataset.room ?? "",
            streamId,
            filename: link.download,
            onProgress: (sent) => (progress.value = sent),
          });
          upload.textContent = "Uploaded";
          upload.dataset.recording = saved.id;
        } catch (error) {
          upload.disabled = false;
          show(`Upload failed (log in first: the admin's login will do): ${error}`);
        }
      });
      item.append(link, " ", upload, " ", progress);
      $("recordings").append(item);
    }
    return;
  }
  for (const streamId of ["local", ...call.remotePeerIds]) {
    if (!call.startRecording(streamId, { mimeType: "video/webm" })) show(`Cannot record ${streamId}`);
  }
});

/** @param {number | undefined} value @param {string} unit @param {number} [digits] */
const format = (value, unit, digits = 0) => (value === undefined ? "–" : `${value.toFixed(digits)} ${unit}`);

async function refreshQuality() {
  const rows = [];
  if (call.state !== "idle") {
    for (const [peerId, q] of await call.getAllQualitySummaries()) {
      const cells = [
        peerId,
        format(q.rtt, "ms", 1),
        format(q.packetLossPercent, "%", 1),
        format(q.jitter, "ms", 1),
        format(q.bitrate?.video?.inbound && q.bitrate.video.inbound / 1000, "kbit/s"),
        format(q.bitrate?.audio?.inbound && q.bitrate.audio.inbound / 1000, "kbit/s"),
        q.video?.frameWidth ? `${q.video.frameWidth}×${q.video.frameHeight} @ ${q.video.framesPerSecond ?? "–"} fps` : "–",
        q.candidatePair?.usingRelay === undefined ? "–" : q.candidatePair.usingRelay ? "TURN" : "direct",
      ];
      const row = document.createElement("tr");
      row.dataset.peer = peerId;
      for (const text of cells) row.append(Object.assign(document.createElement("td"), { textContent: text }));
      rows.push(row);
    }
  }
  $("quality").querySelector("tbody")?.replaceChildren(...rows);
  setTimeout(refreshQuality, 1000);
}
void refreshQuality();
