// Runs the scheduler on the database: the PostgreSQL store, the event-driven loop, and leadership.
// Only one scheduler in a cluster of processes runs passes: the one holding the advisory lock
// SCHEDULER_LOCK_KEY on a connection of its own (docs/scheduler.md). The others wait and take
// over when the lock frees (its holder stopped, or its connection died). The embedded database
// belongs to one process, which always leads.
import type { AdvisoryLock, OpenDatabase } from '../../db/connect.js';
import { type Clock, systemClock } from './clock.js';
import { type LoopLog, type LoopOptions, SchedulerLoop } from './loop.js';
import { PgSchedulerStore } from './pg-store.js';
import type { SchedulerConfig } from './types.js';

/** The advisory lock key of the scheduler's leadership ("kubeqa" in ASCII, as a number). */
export const SCHEDULER_LOCK_KEY = 0x6b75_6265_7161;

export interface StartSchedulerOptions {
  readonly database: OpenDatabase;
  readonly log?: LoopLog & { info(details: object, message: string): void };
  readonly config?: Partial<SchedulerConfig>;
  readonly clock?: Clock;
  readonly onAssigned?: LoopOptions['onAssigned'];
  readonly onStopped?: LoopOptions['onStopped'];
  readonly onPass?: LoopOptions['onPass'];
  /** How often a waiting instance tries to take the lock (default 2 s). */
  readonly retryLockMs?: number;
  /** How often the store reads every job again, as a safety net (default 30 s; see PgStoreOptions). */
  readonly fullReadEveryMs?: number;
}

export interface RunningScheduler {
  readonly loop: SchedulerLoop;
  readonly store: PgSchedulerStore;
  /** Resolves once this instance leads (runs passes). */
  readonly leading: Promise<void>;
  isLeader(): boolean;
  stop(): Promise<void>;
}

export async function startScheduler(options: StartSchedulerOptions): Promise<RunningScheduler> {
  const { database, log } = options;
  const clock = options.clock ?? systemClock;
  const store = new PgSchedulerStore(database, { log, fullReadEveryMs: options.fullReadEveryMs });
  const loop = new SchedulerLoop({
    store,
    clock,
    config: options.config,
    log,
    onAssigned: options.onAssigned,
    onStopped: options.onStopped,
    onPass: options.onPass,
  });
  let stopped = false;
  let lock: AdvisoryLock | null = null;
  let timer: NodeJS.Timeout | null = null;
  let markLeading: () => void = () => undefined;
  const leading = new Promise<void>((resolve) => {
    markLeading = resolve;
  });

  const lead = async (taken: AdvisoryLock): Promise<void> => {
    lock = taken;
    await store.start();
    loop.start();
    log?.info({}, 'scheduler leads');
    markLeading();
    taken.lost.then(async () => {
      if (stopped || lock !== taken) return;
      // the connection holding the lock died: another instance may lead now
      log?.error({}, 'scheduler lost its lock; stopping passes and trying to lead again');
      lock = null;
      await loop.stop();
      await store.close();
      // back off first, so that an instance that has been waiting takes over
      schedule(options.retryLockMs ?? 2000);
    });
  };

  const attempt = async (): Promise<void> => {
    timer = null;
    if (stopped || lock) return;
    try {
      const taken = await database.tryAdvisoryLock(SCHEDULER_LOCK_KEY);
      if (taken && !stopped) return await lead(taken);
      await taken?.release();
    } catch (error) {
      log?.error({ err: error }, 'could not try the scheduler lock');
    }
    schedule(options.retryLockMs ?? 2000);
  };

  const schedule = (delay: number): void => {
    if (stopped) return;
    timer = setTimeout(() => void attempt(), delay);
    timer.unref();
  };

  await attempt();
  return {
    loop,
    store,
    leading,
    isLeader: () => lock !== null,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await loop.stop();
      await store.close();
      const held = lock;
      lock = null;
      await held?.release();
    },
  };
}
