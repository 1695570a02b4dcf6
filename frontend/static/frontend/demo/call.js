// The video call demo page: a pre-join screen (mirrored preview, microphone level, devices, name), then the call
// (named tiles with mute and camera badges, the active speaker, chat, quality plots, recording). Everything goes
// through the public WebRTCCall API.

import { CustomStreamSource, WebRTCCall, uploadRecording } from "../webrtc/index.js";
import {
  $,
  CHAT_CHANNELS,
  ChatPanel,
  alertUser,
  describeError,
  el,
  formatDuration,
  initials,
  nameOf,
  rememberName,
  rememberedName,
} from "./ui.js";

/** @param {string} id */
const button = (id) => /** @type {HTMLButtonElement} */ ($(id));
/** @param {string} id */
const select = (id) => /** @type {HTMLSelectElement} */ ($(id));
const app = $("app");
const roomId = app.dataset.room ?? "";
/** Set while this tab is in the call: a reload joins again at once. */
const IN_CALL_KEY = `rtc-demo.in-call.${roomId}`;

const call = new WebRTCCall({
  roomId,
  signalUrl: app.dataset.signal ?? "",
  autoConnect: false,
  dataChannels: CHAT_CHANNELS,
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

// --- Pre-join -------------------------------------------------------------------------------------------------

/** @type {MediaStream | null} the preview's stream, handed to the call on Join */
let preview = null;
/** @type {AudioContext | null} */
let audioContext = null;
const nameInput = /** @type {HTMLInputElement} */ ($("name"));
nameInput.value = app.dataset.userName || rememberedName();
if (app.dataset.userName) {
  nameInput.readOnly = true;
  nameInput.title = "Your account's name";
}
const previewVideo = /** @type {HTMLVideoElement} */ ($("preview"));

/**
 * Capture the chosen devices for the preview; without the camera, the microphone alone; without either, nothing
 * (the call then receives only). Says why.
 */
async function startPreview() {
  const camera = select("camera").value;
  const microphone = select("microphone").value;
  preview?.getTracks().forEach((track) => track.stop());
  preview = null;
  const video = camera ? { deviceId: { exact: camera } } : true;
  const audio = microphone ? { deviceId: { exact: microphone } } : true;
  $("prejoin-note").hidden = true;
  try {
    preview = await navigator.mediaDevices.getUserMedia({ video, audio });
  } catch (error) {
    try {
      preview = await navigator.mediaDevices.getUserMedia({ audio });
      showPrejoinNote(`${describeError(error)} You will join with audio only.`);
    } catch {
      preview = new MediaStream();
      showPrejoinNote(
        `${describeError(error)} You will join without camera and microphone: you can still see and hear the others.`,
      );
    }
  }
  previewVideo.srcObject = preview;
  $("preview-off").hidden = preview.getVideoTracks().length > 0;
  meter(preview);
  await fillDevices();
}

/** @param {string} text */
function showPrejoinNote(text) {
  $("prejoin-note").textContent = text;
  $("prejoin-note").hidden = false;
}

async function fillDevices() {
  const devices = await call.getDevices();
  for (const [kind, id] of /** @type {const} */ ([
    ["videoinput", "camera"],
    ["audioinput", "microphone"],
  ])) {
    const list = select(id);
    const inUse =
      (kind === "videoinput" ? preview?.getVideoTracks()[0] : preview?.getAudioTracks()[0])?.getSettings().deviceId ??
      "";
    const options = devices[kind].map((device, index) =>
      el("option", {
        value: device.deviceId,
        textContent: device.label || `${kind === "videoinput" ? "Camera" : "Microphone"} ${index + 1}`,
      }),
    );
    if (!options.length) options.push(el("option", { value: "", textContent: "None found" }));
    list.replaceChildren(...options);
    list.value = inUse;
    const inCall = /** @type {HTMLSelectElement} */ ($(`${id}-in-call`));
    inCall.replaceChildren(...options.map((option) => /** @type {HTMLOptionElement} */ (option.cloneNode(true))));
    inCall.value = call.devices[kind] ?? inUse;
  }
}

/** @type {(() => void) | null} */
let stopMeter = null;
/** The microphone level under the preview, from a WebAudio analyser. @param {MediaStream} stream */
function meter(stream) {
  stopMeter?.();
  stopMeter = null;
  const bar = $("mic-level");
  if (!stream.getAudioTracks().length) {
    bar.style.width = "0";
    return;
  }
  audioContext ??= new AudioContext();
  const source = audioContext.createMediaStreamSource(stream);
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let frame = 0;
  const draw = () => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const sample of samples) sum += sample * sample;
    const level = Math.min(1, Math.sqrt(sum / samples.length) * 4);
    bar.style.width = `${Math.round(level * 100)}%`;
    bar.dataset.level = level.toFixed(3);
    frame = requestAnimationFrame(draw);
  };
  draw();
  stopMeter = () => {
    cancelAnimationFrame(frame);
    source.disconnect();
  };
}

const previewReady = startPreview();
select("camera").addEventListener("change", () => void startPreview());
select("microphone").addEventListener("change", () => void startPreview());

async function join() {
  const name = nameInput.value.trim() || rememberedName();
  rememberName(name);
  await previewReady;
  void audioContext?.resume();
  stopMeter?.();
  const stream = preview ?? new MediaStream();
  call.setOptions({ ...call.options, media: new CustomStreamSource(stream), metadata: { name } });
  sessionStorage.setItem(IN_CALL_KEY, "1");
  await call.connect();
}

$("prejoin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void join();
});

// --- In the call ----------------------------------------------------------------------------------------------

/** @type {Map<string, HTMLElement>} */
const tiles = new Map();
/** @type {Map<string, () => void>} each remote tile's adaptive-video watch, stopped with the tile */
const tileWatches = new Map();
const localTile = $("local-tile");
call.attachLocalVideo(/** @type {HTMLVideoElement} */ ($("local-video")));

/**
 * @param {HTMLElement} tile
 * @param {{ name: string, audio: boolean, video: boolean, screen: boolean, chatOnly?: boolean, speaking: boolean }} state
 */
function paintTile(tile, state) {
  const label = /** @type {HTMLElement} */ (tile.querySelector(".name"));
  if (label.textContent !== state.name) label.textContent = state.name;
  const avatar = /** @type {HTMLElement} */ (tile.querySelector(".avatar"));
  avatar.textContent = initials(state.name) || "?";
  const placeholder = /** @type {HTMLElement} */ (tile.querySelector(".placeholder"));
  const showVideo = state.video || state.screen;
  placeholder.hidden = showVideo;
  /** @type {HTMLElement} */ (tile.querySelector(".placeholder-text")).textContent = state.chatOnly
    ? `${state.name} · chat only`
    : `${state.name} · camera off`;
  tile.classList.toggle("video-off", !showVideo);
  tile.classList.toggle("speaking", state.speaking);
  tile.classList.toggle("chat-only", Boolean(state.chatOnly));
  const badges = /** @type {HTMLElement} */ (tile.querySelector(".badges"));
  const wanted = [];
  if (state.chatOnly) wanted.push(["chat", "Chat only"]);
  else {
    if (!state.audio) wanted.push(["muted", "Muted"]);
    if (!state.video && !state.screen) wanted.push(["camera-off", "Camera off"]);
    if (state.screen) wanted.push(["screen", "Sharing screen"]);
  }
  const key = wanted.map(([kind]) => kind).join(",");
  if (badges.dataset.key !== key) {
    badges.dataset.key = key;
    badges.replaceChildren(
      ...wanted.map(([kind, text]) => el("span", { className: `badge ${kind}`, textContent: text })),
    );
  }
}

/** @param {string} peerId */
function makeTile(peerId) {
  const video = el("video", { autoplay: true, playsInline: true });
  const tile = el("figure", { className: "tile remote", dataset: { peer: peerId } }, [
    video,
    el("div", { className: "placeholder", hidden: true }, [
      el("span", { className: "avatar" }),
      el("span", { className: "placeholder-text" }),
    ]),
    el("figcaption", {}, [el("span", { className: "name" }), el("span", { className: "badges" })]),
  ]);
  $("videos").append(tile);
  return tile;
}

let recordingSince = 0;

function render() {
  const s = call.getSnapshot();
  const active = s.state !== "idle";
  $("prejoin").hidden = active;
  $("incall").hidden = !active;
  $("state").textContent = s.state;
  $("peer-id").textContent = s.peerId ?? "–";
  const visible = s.remotePeerIds.filter((id) => s.peerRoles.get(id) !== "recorder");
  $("status-text").textContent =
    s.reconnectAttempt > 0
      ? `Reconnecting (attempt ${s.reconnectAttempt})…`
      : s.state === "connecting"
        ? "Connecting…"
        : visible.length === 0
          ? "Waiting for others to join…"
          : s.state === "connected"
            ? `In the call with ${visible.length === 1 ? nameOf(call, visible[0]) : `${visible.length} others`}`
            : "Connecting to the others…";
  $("waiting").hidden = !(active && s.peerId && visible.length === 0);
  $("reconnecting").hidden = s.reconnectAttempt === 0;
  const recordedByPeer = [...s.peerMedia.values()].some((media) => media.recording);
  $("recording-indicator").hidden = !(s.isRecordedByServer || recordedByPeer || s.recordingStreamIds.length);
  button("hangup").disabled = !active;
  for (const id of ["mute-audio", "mute-video", "share", "record"]) button(id).disabled = !active;
  button("mute-audio").textContent = s.isAudioMuted ? "Unmute" : "Mute";
  button("mute-audio").setAttribute("aria-pressed", String(s.isAudioMuted));
  button("mute-video").textContent = s.isVideoMuted ? "Start camera" : "Stop camera";
  button("mute-video").setAttribute("aria-pressed", String(s.isVideoMuted));
  button("share").textContent = s.isScreenSharing ? "Stop sharing" : "Share screen";
  button("record").textContent = s.recordingStreamIds.length ? "Stop recording" : "Record";
  $("record-timer").hidden = !s.recordingStreamIds.length;
  for (const id of ["message", "send", "file"])
    /** @type {HTMLInputElement} */ ($(id)).disabled = s.state !== "connected";

  const own = call.mediaState();
  paintTile(localTile, {
    name: `${typeof s.metadata.name === "string" ? s.metadata.name : nameInput.value} (you)`,
    audio: own.audio,
    video: own.video,
    screen: own.screen,
    speaking: s.activeSpeakerId !== null && s.activeSpeakerId === s.peerId,
  });
  localTile.classList.toggle("mirrored", !s.isScreenSharing);

  for (const [peerId, tile] of tiles) {
    if (!visible.includes(peerId)) {
      tile.remove();
      tiles.delete(peerId);
      tileWatches.get(peerId)?.();
      tileWatches.delete(peerId);
    }
  }
  for (const peerId of visible) {
    let tile = tiles.get(peerId);
    if (!tile) {
      tile = makeTile(peerId);
      tiles.set(peerId, tile);
      // In an SFU room, each tile gets the video layer its size calls for, and none while it is not shown.
      tileWatches.set(peerId, call.observeRemoteVideo(peerId, /** @type {Element} */ (tile.querySelector("video"))));
    }
    const stream = s.remoteStreams.get(peerId) ?? null;
    const video = /** @type {HTMLVideoElement} */ (tile.querySelector("video"));
    if (video.srcObject !== stream) video.srcObject = stream;
    const media = s.peerMedia.get(peerId);
    const chatOnly = s.peerMetadata.get(peerId)?.chatOnly === true;
    const hasVideo = (stream?.getVideoTracks().length ?? 0) > 0;
    paintTile(tile, {
      name: nameOf(call, peerId) + (s.peerRoles.get(peerId) === "agent" ? " (agent)" : ""),
      // A peer that announces nothing (a client of Agentuity's protocol) is shown as its stream goes.
      audio: media ? media.audio : true,
      video: media ? media.video : hasVideo,
      screen: media ? media.screen : false,
      chatOnly,
      speaking: s.activeSpeakerId === peerId,
    });
  }
  // The grid's shape for this many tiles (an SFU room holds dozens): 1, 2, up to 4, 6, 12, or more.
  const count = visible.length + 1;
  $("videos").dataset.count =
    count <= 2 ? String(count) : count <= 4 ? "4" : count <= 6 ? "6" : count <= 12 ? "12" : "many";
}
call.subscribe(render);
render();

setInterval(() => {
  if (recordingSince) $("record-timer").textContent = formatDuration((Date.now() - recordingSince) / 1000);
}, 250);

button("hangup").addEventListener("click", () => {
  sessionStorage.removeItem(IN_CALL_KEY);
  call.hangup();
  chat.reset();
  void startPreview();
});
button("mute-audio").addEventListener("click", () => call.muteAudio(!call.isAudioMuted));
button("mute-video").addEventListener("click", () => call.muteVideo(!call.isVideoMuted));
button("share").addEventListener("click", () => {
  (call.isScreenSharing ? call.stopScreenShare() : call.startScreenShare()).catch((error) => {
    if (/** @type {any} */ (error)?.name !== "NotAllowedError") alertUser(describeError(error));
  });
});
$("invite").addEventListener("click", async () => {
  const link = `${location.origin}${location.pathname}`;
  try {
    await navigator.clipboard.writeText(link);
    $("invite").textContent = "Link copied";
  } catch {
    $("invite").textContent = link;
  }
  setTimeout(() => ($("invite").textContent = "Copy invite link"), 2500);
});
for (const [id, kind] of /** @type {const} */ ([
  ["camera-in-call", "videoinput"],
  ["microphone-in-call", "audioinput"],
])) {
  select(id).addEventListener("change", () => {
    call.switchDevice(kind, select(id).value).catch((error) => alertUser(describeError(error)));
  });
}

button("record").addEventListener("click", async () => {
  if (call.getSnapshot().recordingStreamIds.length) {
    const duration = (Date.now() - recordingSince) / 1000;
    recordingSince = 0;
    const blobs = await call.stopAllRecordings();
    for (const [streamId, blob] of blobs) addRecording(streamId, blob, duration);
    return;
  }
  recordingSince = Date.now();
  $("record-timer").textContent = "0:00";
  for (const streamId of ["local", ...call.remotePeerIds]) {
    if (!call.startRecording(streamId, { mimeType: "video/webm" }) && streamId !== "local") {
      alertUser(`${nameOf(call, streamId)} cannot be recorded (nothing is received from them yet).`);
    }
  }
});

/**
 * @param {string} streamId
 * @param {Blob} blob
 * @param {number} duration seconds
 */
function addRecording(streamId, blob, duration) {
  const extension = blob.type.includes("mp4") ? "mp4" : "webm";
  const who = streamId === "local" ? "You" : nameOf(call, streamId);
  const link = el("a", {
    href: URL.createObjectURL(blob),
    download: `${streamId}-${new Date().toISOString().replace(/[:.]/g, "-")}.${extension}`,
    textContent: `${who} · ${formatDuration(duration)} · ${(blob.size / 1024).toFixed(0)} KiB`,
  });
  const upload = el("button", { type: "button", textContent: "Upload" });
  const progress = el("progress", { max: blob.size, value: 0 });
  upload.addEventListener("click", async () => {
    upload.disabled = true;
    try {
      const saved = await uploadRecording(blob, {
        roomId,
        streamId,
        filename: link.download,
        duration,
        onProgress: (sent) => (progress.value = sent),
      });
      upload.textContent = "Uploaded";
      upload.dataset.recording = saved.id;
    } catch (error) {
      upload.disabled = false;
      const status = /** @type {any} */ (error)?.status;
      alertUser(
        status === 401 || status === 403
          ? "The upload needs you to be logged in (the admin's login will do)."
          : `The upload failed: ${/** @type {any} */ (error)?.message ?? "network error"}. Try again.`,
      );
    }
  });
  $("recordings").append(el("li", {}, [link, " ", upload, " ", progress]));
}

// --- Quality: numbers and a plot of the last minute per peer ----------------------------------------------------

/** @type {Map<string, { bitrate: number[], rtt: number[], canvas: HTMLCanvasElement }>} */
const history = new Map();
const HISTORY = 60;

/** @param {number | undefined} value @param {string} unit @param {number} [digits] */
const format = (value, unit, digits = 0) => (value === undefined ? "–" : `${value.toFixed(digits)} ${unit}`);

/** @param {HTMLCanvasElement} canvas @param {{ bitrate: number[], rtt: number[] }} series */
function plot(canvas, series) {
  const context = canvas.getContext("2d");
  if (!context) return;
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  /** @param {number[]} values @param {string} color */
  const line = (values, color) => {
    const top = Math.max(1, ...values);
    context.strokeStyle = color;
    context.lineWidth = 1.5;
    context.beginPath();
    values.forEach((value, index) => {
      const x = width - (values.length - 1 - index) * (width / (HISTORY - 1));
      const y = height - 2 - (value / top) * (height - 4);
      if (index === 0) context.moveTo(x, y);
      else context.lineTo(x, y);
    });
    context.stroke();
  };
  line(series.bitrate, "#2f6fde");
  line(series.rtt, "#d9822b");
}

async function refreshQuality() {
  const rows = [];
  if (call.state !== "idle") {
    for (const [peerId, q] of await call.getAllQualitySummaries()) {
      if (call.getSnapshot().peerRoles.get(peerId) === "recorder") continue;
      // Each peer's plot is drawn on its own canvas, kept from one refresh to the next (a room of 20 refreshes 19).
      const series = history.get(peerId) ?? {
        bitrate: [],
        rtt: [],
        canvas: el("canvas", {
          width: 120,
          height: 32,
          className: "plot",
          title: "Last minute: video kbit/s (blue), RTT (orange)",
        }),
      };
      history.set(peerId, series);
      series.bitrate.push((q.bitrate?.video?.inbound ?? 0) / 1000);
      series.rtt.push(q.rtt ?? 0);
      if (series.bitrate.length > HISTORY) series.bitrate.shift();
      if (series.rtt.length > HISTORY) series.rtt.shift();
      const { canvas } = series;
      plot(canvas, series);
      const cells = [
        ["Peer", nameOf(call, peerId)],
        ["RTT", format(q.rtt, "ms", 1)],
        ["Loss", format(q.packetLossPercent, "%", 1)],
        ["Video in", format(q.bitrate?.video?.inbound && q.bitrate.video.inbound / 1000, "kbit/s")],
        [
          "Frame",
          q.video?.frameWidth
            ? `${q.video.frameWidth}×${q.video.frameHeight} @ ${q.video.framesPerSecond ?? "–"} fps`
            : "–",
        ],
        ["Path", q.candidatePair?.usingRelay === undefined ? "–" : q.candidatePair.usingRelay ? "TURN" : "direct"],
      ];
      const row = el("tr", { dataset: { peer: peerId } }, [
        ...cells.map(([label, text]) => el("td", { dataset: { label }, textContent: text })),
        el("td", { dataset: { label: "Last minute" } }, [canvas]),
      ]);
      rows.push(row);
    }
  }
  for (const peerId of history.keys()) if (!call.remotePeerIds.includes(peerId)) history.delete(peerId);
  $("quality")
    .querySelector("tbody")
    ?.replaceChildren(...rows);
  $("quality-section").hidden = rows.length === 0;
  setTimeout(refreshQuality, 1000);
}
void refreshQuality();

// A reload during a call joins again at once (the previous tab's place is given up by its closed socket).
if (sessionStorage.getItem(IN_CALL_KEY)) void join();
