// Delays between reconnection attempts: exponential, capped, with jitter so that the clients of a restarted
// server do not all come back in the same instant.

/**
 * Milliseconds to wait before reconnection attempt `attempt` (1, 2, ...): a random point in the upper half of
 * min(maxDelay, baseDelay * 2^(attempt-1)).
 * @param {number} attempt
 * @param {{ baseDelay?: number, maxDelay?: number, random?: () => number }} [options]
 * @returns {number}
 */
export function reconnectDelay(attempt, { baseDelay = 500, maxDelay = 15000, random = Math.random } = {}) {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError("attempt counts from 1");
  const ceiling = Math.min(maxDelay, baseDelay * 2 ** (attempt - 1));
  return ceiling / 2 + (random() * ceiling) / 2;
}
