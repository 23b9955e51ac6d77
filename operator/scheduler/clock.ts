// Time for the scheduler, injected so tests and benchmarks control it.

export interface Clock {
  now(): number;
  /** Calls `fire` once at (or soon after) `at`; returns a function that cancels it. */
  setTimer(at: number, fire: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(at, fire) {
    // setTimeout cannot wait longer than 2^31-1 ms; a later deadline is re-armed on the way
    const delay = Math.min(Math.max(0, at - Date.now()), 2_147_483_647);
    const timer = setTimeout(() => (Date.now() >= at ? fire() : this.setTimer(at, fire)), delay);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** A clock that moves only when told to; timers fire synchronously inside `advance`. */
export class ManualClock implements Clock {
  private timers: Array<{ at: number; fire: () => void; seq: number }> = [];
  private seq = 0;

  constructor(private current = 0) {}

  now(): number {
    return this.current;
  }

  setTimer(at: number, fire: () => void): () => void {
    const timer = { at, fire, seq: this.seq++ };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Moves time forward, firing every timer that comes due, in time order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = Math.max(this.current, due.at);
      due.fire();
    }
    this.current = target;
  }

  get pendingTimers(): number {
    return this.timers.length;
  }
}
