// ICE server configuration: the default a call uses when neither the page nor the server names servers, and
// what each server URL is (STUN, or TURN over UDP, TCP or TLS).

/** Used when neither the options nor the server name ICE servers. */
export const DEFAULT_ICE_SERVERS = [{ urls: "stun:stun.l.google.com:19302" }];

/** @typedef {"stun" | "udp" | "tcp" | "tls"} IceUrlKind */

/**
 * What an ICE server URL reaches: a STUN server, or a TURN server over UDP, TCP or TLS (`turns:`); null for a URL
 * of no known scheme.
 * @param {string} url
 * @returns {IceUrlKind | null}
 */
export function iceUrlKind(url) {
  const match = /^(stuns?|turns?):([^?]*)(?:\?(.*))?$/i.exec(url.trim());
  if (!match) return null;
  const scheme = match[1].toLowerCase();
  if (scheme === "stun" || scheme === "stuns") return "stun";
  if (scheme === "turns") return "tls";
  const transport = new URLSearchParams(match[3] ?? "").get("transport")?.toLowerCase();
  return transport === "tcp" ? "tcp" : "udp";
}

/**
 * The STUN address of a TURN URL (`turn:host:port?transport=udp` -> `stun:host:port`): a TURN server answers
 * STUN binding requests on its UDP port.
 * @param {string} url
 */
export function stunUrlOf(url) {
  return url
    .trim()
    .replace(/^turn:/i, "stun:")
    .replace(/\?.*$/, "");
}

/**
 * Each URL of `servers` with the server entry it belongs to (for its credentials), grouped by what it reaches.
 * @param {RTCIceServer[]} servers
 * @returns {Map<IceUrlKind, { url: string, server: RTCIceServer }[]>}
 */
export function iceUrlsByKind(servers) {
  /** @type {Map<IceUrlKind, { url: string, server: RTCIceServer }[]>} */
  const kinds = new Map();
  for (const server of servers) {
    for (const url of [server.urls].flat()) {
      const kind = typeof url === "string" ? iceUrlKind(url) : null;
      if (!kind) continue;
      if (!kinds.has(kind)) kinds.set(kind, []);
      kinds.get(kind)?.push({ url, server });
    }
  }
  return kinds;
}
