// Named one-shot timers, shared by the call and its peer links: setting a name again replaces its timer, and
// clearAll() stops every one (a hangup, a closed link).

export class Timers {
  constructor() {
    /** @type {Map<string, ReturnType<typeof setTimeout>>} */
    this.pending = new Map();
  }

  /**
   * Run `action` after `delay` ms, replacing the timer of the same name.
   * @param {string} name
   * @param {number} delay
   * @param {() => void} action
   */
  set(name, delay, action) {
    this.clear(name);
    const handle = setTimeout(() => {
      if (this.pending.get(name) === handle) this.pending.delete(name);
      action();
    }, delay);
    this.pending.set(name, handle);
  }

  /** @param {string} name */
  clear(name) {
    const handle = this.pending.get(name);
    if (handle !== undefined) {
      clearTimeout(handle);
      this.pending.delete(name);
    }
  }

  /** @param {string} name @returns {boolean} whether that timer is waiting to run */
  has(name) {
    return this.pending.has(name);
  }

  clearAll() {
    for (const handle of this.pending.values()) clearTimeout(handle);
    this.pending.clear();
  }
}
