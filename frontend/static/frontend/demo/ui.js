// What the demo pages share: names, human error messages, dismissable alerts, and the chat panel (text and
// files over data channels, with progress and backpressure). Everything goes through the public WebRTCCall API.

/** @typedef {import('../webrtc/call.js').WebRTCCall} WebRTCCall */

/** @param {string} id */
export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any>} [props]
 * @param {(Node | string)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, props = {}, children = []) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "className") element.className = value;
    else /** @type {any} */ (element)[key] = value;
  }
  element.append(...children);
  return element;
}

const NAME_KEY = "rtc-demo.name";

/** The name this browser went by last time (or a fresh guest name). */
export function rememberedName() {
  try {
    const name = localStorage.getItem(NAME_KEY);
    if (name) return name;
  } catch {
    // Storage may be off (private mode): a guest name will do.
  }
  return `Guest ${Math.floor(100 + Math.random() * 900)}`;
}

/** @param {string} name */
export function rememberName(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Not remembered, that is all.
  }
}

/**
 * The name a peer goes by on this page.
 * @param {WebRTCCall} call
 * @param {string} peerId
 */
export function nameOf(call, peerId) {
  const name = call.getSnapshot().peerMetadata.get(peerId)?.name;
  if (typeof name === "string" && name.trim()) return name.trim();
  const role = call.getSnapshot().peerRoles.get(peerId);
  return role ? `${role[0].toUpperCase()}${role.slice(1)}` : `Guest ${peerId.slice(-4)}`;
}

/** @param {string} name @returns {string} up to two initials */
export function initials(name) {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((word) => word[0].toUpperCase())
    .join("");
}

const MESSAGES = {
  "room-full": "This room is full. Try again when someone leaves, or pick another room.",
  "room-closed": "This room has been closed by a moderator.",
  kicked: "A moderator removed you from this call.",
  forbidden: "You may not join this room.",
  replaced: "You joined this call from another tab or device, so this one was disconnected.",
  "invalid-room": "This room does not exist.",
  "reconnect-failed":
    "The connection to the server was lost and could not be restored. Check your network and join again.",
  "rate-limited": "Too many attempts from your network. Wait a moment and try again.",
  internal: "The server is having trouble right now. Try again in a moment.",
  "origin-not-allowed": "This page is not allowed to use the call server.",
  "ice-failed": "The connection to a participant failed (a firewall may block it).",
  "negotiation-failed": "Setting up the connection to a participant failed.",
};

/**
 * A message for people, not developers: no class names, no codes.
 * @param {unknown} error
 * @returns {string}
 */
export function describeError(error) {
  const value = /** @type {any} */ (error);
  const code = value?.code;
  if (code === "forbidden" && typeof value.message === "string" && value.message.startsWith("You are banned")) {
    return `${value.message}.`;
  }
  if (code === "forbidden" && typeof value.message === "string" && value.message.startsWith("Log in")) {
    return "Log in to join this room.";
  }
  if (typeof code === "string" && code in MESSAGES) return MESSAGES[/** @type {keyof typeof MESSAGES} */ (code)];
  if (
    code === "camera-unavailable" ||
    code === "media-unavailable" ||
    code === "device-unavailable" ||
    code === "device-lost"
  ) {
    return value.message;
  }
  const name = value?.name;
  if (name === "NotAllowedError") return "The browser was not allowed to use your camera or microphone.";
  if (name === "NotFoundError") return "No camera or microphone was found.";
  if (name === "NotReadableError") return "Your camera or microphone is in use by another application.";
  return "Something went wrong. Try again, or reload the page.";
}

/**
 * Show an alert that stays until the person dismisses it (the same text is shown once).
 * @param {string} text
 */
export function alertUser(text) {
  const box = $("alerts");
  for (const existing of box.querySelectorAll(".alert span")) if (existing.textContent === text) return;
  const dismiss = el("button", { type: "button", className: "dismiss", textContent: "×", title: "Dismiss" });
  const alert = el("div", { className: "alert", role: "alert" }, [el("span", { textContent: text }), dismiss]);
  dismiss.addEventListener("click", () => alert.remove());
  box.append(alert);
}

/** @param {number} seconds */
export function formatDuration(seconds) {
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

/** @param {number} bytes */
export function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${bytes} bytes`;
}

/** Largest file the chat sends (the receiver holds it in memory until it is saved). */
export const MAX_FILE_BYTES = 100 * 1024 * 1024;
/** Bytes of one data channel message of a file (well under every browser's SCTP message limit). */
export const FILE_CHUNK_BYTES = 64 * 1024;
/** The sender waits while a peer's channel has more than this waiting to be sent. */
export const FILE_BUFFER_BYTES = 1024 * 1024;

/** The data channels of the chat panel: text, and files (ordered and reliable: chunks arrive in order). */
export const CHAT_CHANNELS = [
  { label: "chat", ordered: true },
  { label: "file", ordered: true },
];

/**
 * The chat panel of a page: elements #messages, #send-form, #message, #send, #file.
 */
export class ChatPanel {
  /** @param {WebRTCCall} call its callbacks are extended with the panel's (joins, departures, messages) */
  constructor(call) {
    this.call = call;
    /** Whether our own join has been answered (peers listed by `joined` were there before us). */
    this.inRoom = false;
    /** @type {Map<string, { id: string, name: string, type: string, size: number, received: number, chunks: ArrayBuffer[], progress: HTMLProgressElement, label: HTMLElement }>} */
    this.incoming = new Map();
    $("send-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = /** @type {HTMLInputElement} */ ($("message"));
      const text = input.value.trim();
      if (!text) return;
      const reached = call.sendString("chat", text);
      this.append("You", text, reached ? "" : "not delivered: nobody is connected");
      input.value = "";
    });
    const fileInput = /** @type {HTMLInputElement} */ ($("file"));
    fileInput.addEventListener("change", () => {
      const file = fileInput.files?.[0];
      fileInput.value = "";
      if (file) void this.sendFile(file);
    });
    call.setOptions({ ...call.options, callbacks: { ...call.options.callbacks, ...this.callbacks() } });
    // A peer's name may reach us after the line that names it (its metadata comes with `peer-joined`, or later
    // with `peer-updated`): every name in the log is the tile's, kept current.
    call.subscribe(() => this.refreshNames());
  }

  /**
   * A peer's name in the log, as its tile shows it; kept current by refreshNames().
   * @param {string} peerId
   */
  nameTag(peerId) {
    return el("span", { className: "peer-name", textContent: nameOf(this.call, peerId), dataset: { peer: peerId } });
  }

  /** Rename every name in the log whose peer's name changed. */
  refreshNames() {
    for (const tag of /** @type {NodeListOf<HTMLElement>} */ (
      $("messages").querySelectorAll(".peer-name[data-peer]")
    )) {
      const name = nameOf(this.call, tag.dataset.peer ?? "");
      if (tag.textContent !== name) tag.textContent = name;
    }
  }

  /** The call's callbacks this panel needs. */
  callbacks() {
    return {
      onJoined: () => {
        this.inRoom = true;
        const here = this.call.remotePeerIds.flatMap((id, index) => [...(index ? [", "] : []), this.nameTag(id)]);
        if (here.length) this.notice("In the room: ", ...here);
        else this.notice("You are the first one here.");
      },
      /** @param {string} peerId */
      onPeerJoined: (peerId) => {
        if (this.inRoom) this.notice(this.nameTag(peerId), " joined");
      },
      /** @param {string} peerId @param {string} reason */
      onPeerLeft: (peerId, reason) => {
        this.incoming.delete(peerId);
        this.notice(
          this.nameTag(peerId),
          ` left${reason === "leave" || reason === "disconnect" ? "" : ` (${reason})`}`,
        );
      },
      /** @param {string} from @param {string} label @param {string | ArrayBuffer} data */
      onDataChannelMessage: (from, label, data) => this.received(from, label, data),
    };
  }

  /** The call ended: peers met from now on are new. */
  reset() {
    this.inRoom = false;
    this.incoming.clear();
  }

  /** @param {...(string | Node)} parts */
  notice(...parts) {
    this.append("", el("span", {}, parts));
  }

  /**
   * @param {string | Node} who "" for a notice; a peer's nameTag()
   * @param {string | Node} body
   * @param {string} [note]
   * @returns {HTMLLIElement}
   */
  append(who, body, note = "") {
    const time = new Date();
    const item = el("li", { className: who ? "message" : "notice" }, [
      el("time", {
        dateTime: time.toISOString(),
        textContent: time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
      }),
      ...(who ? [el("strong", { className: "from" }, [who])] : []),
      el("span", { className: "body" }, [body]),
      ...(note ? [el("em", { className: "note", textContent: ` (${note})` })] : []),
    ]);
    const list = $("messages");
    list.append(item);
    list.scrollTop = list.scrollHeight;
    return item;
  }

  /**
   * @param {string} from
   * @param {string} label
   * @param {string | ArrayBuffer} data
   */
  received(from, label, data) {
    if (label === "chat" && typeof data === "string") {
      this.append(this.nameTag(from), data);
    } else if (label === "file" && typeof data === "string") {
      let message;
      try {
        message = JSON.parse(data);
      } catch {
        return;
      }
      if (message?.type === "file-start" && Number.isSafeInteger(message.size) && message.size <= MAX_FILE_BYTES) {
        const progress = el("progress", { max: message.size || 1, value: 0, className: "transfer" });
        progress.dataset.transfer = String(message.id);
        const labelText = el("span", { textContent: `${message.name} (${formatBytes(message.size)})` });
        this.append(this.nameTag(from), el("span", { className: "file" }, [labelText, " ", progress]));
        this.incoming.set(from, {
          id: String(message.id),
          name: String(message.name),
          type: String(message.mimeType ?? ""),
          size: message.size,
          received: 0,
          chunks: [],
          progress,
          label: labelText,
        });
      } else if (message?.type === "file-end") {
        const transfer = this.incoming.get(from);
        if (!transfer || transfer.id !== message.id) return;
        this.incoming.delete(from);
        const blob = new Blob(transfer.chunks, { type: transfer.type || "application/octet-stream" });
        const link = el("a", {
          href: URL.createObjectURL(blob),
          download: transfer.name,
          textContent: transfer.label.textContent ?? "",
        });
        link.dataset.transfer = String(transfer.id);
        link.dataset.size = String(blob.size);
        transfer.label.replaceWith(link);
        transfer.progress.value = transfer.progress.max;
      }
    } else if (label === "file" && data instanceof ArrayBuffer) {
      const transfer = this.incoming.get(from);
      if (!transfer) return;
      transfer.received += data.byteLength;
      if (transfer.received > transfer.size) {
        // More than announced: not the file we were told of.
        this.incoming.delete(from);
        transfer.label.textContent += " (failed: more data than announced)";
        return;
      }
      transfer.chunks.push(data);
      transfer.progress.value = transfer.received;
    }
  }

  /**
   * Send a file to every connected peer in chunks, waiting whenever a peer's channel has a lot buffered.
   * @param {File} file
   */
  async sendFile(file) {
    if (file.size > MAX_FILE_BYTES) {
      this.notice(`${file.name} is larger than ${formatBytes(MAX_FILE_BYTES)}: not sent.`);
      return;
    }
    const peers = this.call.remotePeerIds.filter((id) => this.call.getDataChannelState(id, "file") === "open");
    if (!peers.length) {
      this.notice(`${file.name} was not sent: nobody is connected.`);
      return;
    }
    const id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const progress = el("progress", { max: file.size || 1, value: 0, className: "transfer" });
    progress.dataset.transfer = id;
    this.append("You", el("span", { className: "file" }, [`${file.name} (${formatBytes(file.size)}) `, progress]));
    const announce = JSON.stringify({ type: "file-start", id, name: file.name, size: file.size, mimeType: file.type });
    for (const peer of peers) this.call.sendTo(peer, "file", announce);
    for (let offset = 0; offset < file.size; offset += FILE_CHUNK_BYTES) {
      const chunk = await file.slice(offset, offset + FILE_CHUNK_BYTES).arrayBuffer();
      for (const peer of peers) {
        await this.call.whenDrained(peer, "file", FILE_BUFFER_BYTES);
        this.call.sendTo(peer, "file", chunk);
      }
      progress.value = Math.min(file.size, offset + chunk.byteLength);
    }
    for (const peer of peers) this.call.sendTo(peer, "file", JSON.stringify({ type: "file-end", id }));
    progress.value = progress.max;
  }
}
