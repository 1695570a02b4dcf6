// ConnectionQualitySummary from an RTCStatsReport: what a quality panel shows of one peer connection.

/** @typedef {import('./types.js').ConnectionQualitySummary} ConnectionQualitySummary */
/** @typedef {{ at: number, bytes: Record<string, number> }} StatsSample */

/**
 * @param {Record<string, number>} target
 * @param {string} key
 * @param {unknown} value
 */
function add(target, key, value) {
  if (typeof value === "number") target[key] = (target[key] ?? 0) + value;
}

/**
 * The summary of `report`; bitrates need `previous`, the sample of an earlier report of the same connection.
 * @param {RTCStatsReport} report
 * @param {StatsSample | null} previous
 * @param {number} [now] ms since epoch
 * @returns {{ summary: ConnectionQualitySummary, sample: StatsSample }}
 */
export function summarize(report, previous, now = Date.now()) {
  /** @type {Map<string, any>} */
  const stats = new Map();
  report.forEach((value, key) => stats.set(key, value));
  /** @type {ConnectionQualitySummary} */
  const summary = { timestamp: now };
  /** @type {Record<string, number>} */
  const bytes = {};
  /** @type {Record<string, number>} */
  const packets = {};
  let at = 0;
  /** @type {any} */
  let inboundVideo = null;
  /** @type {any} */
  let pair = null;

  for (const stat of stats.values()) {
    at = Math.max(at, stat.timestamp ?? 0);
    if (stat.type === "inbound-rtp") {
      add(bytes, `${stat.kind}.inbound`, stat.bytesReceived);
      add(packets, "lost", stat.packetsLost);
      add(packets, "received", stat.packetsReceived);
      if (stat.kind === "audio" && typeof stat.jitter === "number") summary.jitter = stat.jitter * 1000;
      if (stat.kind === "video" && (!inboundVideo || (stat.bytesReceived ?? 0) > (inboundVideo.bytesReceived ?? 0))) {
        inboundVideo = stat;
      }
    } else if (stat.type === "outbound-rtp") {
      add(bytes, `${stat.kind}.outbound`, stat.bytesSent);
    } else if (stat.type === "transport" && stat.selectedCandidatePairId) {
      pair = stats.get(stat.selectedCandidatePairId) ?? pair;
    } else if (stat.type === "candidate-pair" && !pair && stat.nominated && stat.state === "succeeded") {
      pair = stat;
    }
  }

  if (pair) {
    if (typeof pair.currentRoundTripTime === "number") summary.rtt = pair.currentRoundTripTime * 1000;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    if (local || remote) {
      /** @type {NonNullable<ConnectionQualitySummary["candidatePair"]>} */
      const path = { usingRelay: local?.candidateType === "relay" || remote?.candidateType === "relay" };
      // Extensions: which kinds of candidate the path joins, and how we reach our TURN server (udp, tcp, tls).
      if (local?.candidateType) path.localCandidateType = local.candidateType;
      if (remote?.candidateType) path.remoteCandidateType = remote.candidateType;
      if (local?.candidateType === "relay" && local.relayProtocol) path.relayProtocol = local.relayProtocol;
      summary.candidatePair = path;
    }
  }
  const expected = (packets.lost ?? 0) + (packets.received ?? 0);
  if (expected > 0) summary.packetLossPercent = (Math.max(0, packets.lost ?? 0) / expected) * 100;

  const seconds = previous ? (at - previous.at) / 1000 : 0;
  if (previous && seconds > 0) {
    /** @type {Record<string, Record<string, number>>} */
    const bitrate = {};
    for (const [key, value] of Object.entries(bytes)) {
      const before = previous.bytes[key];
      if (before === undefined || value < before) continue;
      const [kind, direction] = key.split(".");
      (bitrate[kind] ??= {})[direction] = ((value - before) * 8) / seconds;
    }
    if (Object.keys(bitrate).length) summary.bitrate = bitrate;
  }

  // Incoming video only, as Agentuity's client reports it: what this side sends says nothing of what it receives.
  const video = inboundVideo;
  if (video) {
    /** @type {NonNullable<ConnectionQualitySummary['video']>} */
    const details = {};
    for (const field of /** @type {const} */ (["framesPerSecond", "frameWidth", "frameHeight"])) {
      if (typeof video[field] === "number") details[field] = video[field];
    }
    if (inboundVideo && typeof inboundVideo.framesDropped === "number")
      details.framesDropped = inboundVideo.framesDropped;
    if (Object.keys(details).length) summary.video = details;
  }
  return { summary, sample: { at, bytes } };
}

/**
 * The selected candidate pair of `pc` (null while it has none): what a path report and a move onto fresh TURN
 * credentials go by.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<ConnectionQualitySummary["candidatePair"] | null>}
 */
export async function selectedPairOf(pc) {
  if (pc.connectionState === "closed") return null;
  return summarize(await pc.getStats(), null).summary.candidatePair ?? null;
}

/**
 * Whether `pc`'s selected pair has a TURN relay candidate on our side: the allocation that fresh TURN
 * credentials must move it off.
 * @param {RTCPeerConnection} pc
 */
export async function relaysLocally(pc) {
  return (await selectedPairOf(pc))?.localCandidateType === "relay";
}
