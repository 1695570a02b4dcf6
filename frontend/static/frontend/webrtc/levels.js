// Audio levels and the active speaker, from the connections' own statistics (no WebAudio graph per peer): a few
// getStats() calls a second, cheap enough to run all call long.

/** Milliseconds between two measurements. */
export const LEVEL_INTERVAL = 300;
/** A level (0 to 1, RMS of the samples) above this is someone speaking. */
export const SPEAKING_LEVEL = 0.02;
/** The active speaker stays so this long after its last loud measurement (speech has pauses). */
export const SPEAKER_HOLD = 1500;

/**
 * The level of one audio source between two samples of its cumulative energy (the W3C-recommended way:
 * sqrt(Δ totalAudioEnergy / Δ totalSamplesDuration)); its instant `audioLevel` when that is all there is.
 * @param {{ energy?: number, duration?: number, level?: number } | undefined} previous
 * @param {{ energy?: number, duration?: number, level?: number }} current
 * @returns {number}
 */
export function levelBetween(previous, current) {
  if (
    previous?.energy !== undefined &&
    current.energy !== undefined &&
    previous.duration !== undefined &&
    current.duration !== undefined &&
    current.duration > previous.duration
  ) {
    return Math.min(
      1,
      Math.sqrt(Math.max(0, current.energy - previous.energy) / (current.duration - previous.duration)),
    );
  }
  return current.level ?? 0;
}

/**
 * Who speaks now, from levels measured at `now`: the loudest peer above SPEAKING_LEVEL, kept for SPEAKER_HOLD ms
 * after it fell quiet unless someone else is louder.
 * @param {string | null} current
 * @param {Map<string, number>} levels
 * @param {Map<string, number>} lastLoud when each peer was last loud (updated here)
 * @param {number} now
 * @returns {string | null}
 */
export function pickSpeaker(current, levels, lastLoud, now) {
  let loudest = null;
  let loudestLevel = SPEAKING_LEVEL;
  for (const [id, level] of levels) {
    if (level > SPEAKING_LEVEL) lastLoud.set(id, now);
    if (level > loudestLevel) {
      loudest = id;
      loudestLevel = level;
    }
  }
  if (loudest !== null) {
    if (current === null || current === loudest) return loudest;
    // Someone else is louder: they take over only if the current speaker is not speaking right now.
    return (levels.get(current) ?? 0) > SPEAKING_LEVEL ? current : loudest;
  }
  if (current !== null && levels.has(current) && now - (lastLoud.get(current) ?? 0) < SPEAKER_HOLD) return current;
  return null;
}

/**
 * @typedef {object} SpeakerCall what the detector needs of a call
 * @property {Map<string, import('./peer.js').PeerLink>} links
 * @property {import('./sfu.js').SfuSession | null} sfu
 * @property {string | null} peerId
 * @property {boolean} audioMuted
 * @property {string | null} activeSpeakerId
 * @property {(peerId: string | null) => void} setActiveSpeaker
 */

export class SpeakerDetector {
  /** @param {SpeakerCall} call */
  constructor(call) {
    this.call = call;
    /** @type {Map<string, number>} the latest level of each peer (ours under our id) */
    this.levels = new Map();
    /** @type {Map<string, { energy?: number, duration?: number, level?: number }>} */
    this.samples = new Map();
    /** @type {Map<string, number>} */
    this.lastLoud = new Map();
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    this.running = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  schedule() {
    this.timer = setTimeout(() => {
      this.measure().finally(() => {
        if (this.running) this.schedule();
      });
    }, LEVEL_INTERVAL);
  }

  stop() {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.levels.clear();
    this.samples.clear();
    this.lastLoud.clear();
  }

  /** @param {string} peerId */
  forget(peerId) {
    this.levels.delete(peerId);
    this.samples.delete(peerId);
    this.lastLoud.delete(peerId);
  }

  async measure() {
    const call = this.call;
    let ownMeasured = false;
    for (const [peerId, link] of [...call.links]) {
      if (link.closed) continue;
      /** @type {RTCStatsReport} */
      let report;
      try {
        report = await link.pc.getStats();
      } catch {
        continue;
      }
      report.forEach((/** @type {any} */ stat) => {
        if (stat.type === "inbound-rtp" && stat.kind === "audio") {
          this.sample(peerId, stat);
        } else if (stat.type === "media-source" && stat.kind === "audio" && !ownMeasured && call.peerId) {
          // Our microphone, as our first connection sends it.
          ownMeasured = true;
          this.sample(call.peerId, stat, call.audioMuted);
        }
      });
    }
    if (call.sfu && !call.sfu.closed) await this.measureSfu(call.sfu);
    if (!this.running) return;
    call.setActiveSpeaker(pickSpeaker(call.activeSpeakerId, this.levels, this.lastLoud, Date.now()));
  }

  /**
   * In an SFU room: each peer's audio as the subscriber receives it (by its mid), ours as the publisher sends it.
   * @param {import('./sfu.js').SfuSession} sfu
   */
  async measureSfu(sfu) {
    const call = this.call;
    try {
      (await sfu.subscriber.getStats()).forEach((/** @type {any} */ stat) => {
        const peerId =
          stat.type === "inbound-rtp" && stat.kind === "audio" ? sfu.peerOfMid.get(String(stat.mid)) : null;
        if (peerId) this.sample(peerId, stat);
      });
      (await sfu.publisher.getStats()).forEach((/** @type {any} */ stat) => {
        if (stat.type === "media-source" && stat.kind === "audio" && call.peerId) {
          this.sample(call.peerId, stat, call.audioMuted);
        }
      });
    } catch {
      // closed meanwhile
    }
  }

  /**
   * @param {string} id
   * @param {any} stat
   * @param {boolean} [silenced] a muted microphone counts as silent whatever it captures
   */
  sample(id, stat, silenced = false) {
    const current = { energy: stat.totalAudioEnergy, duration: stat.totalSamplesDuration, level: stat.audioLevel };
    const level = levelBetween(this.samples.get(id), current);
    this.samples.set(id, current);
    this.levels.set(id, silenced ? 0 : level);
  }
}
