// The local executor (embedded mode): N slots on this machine, registered with the scheduler;
// each assignment runs its jobs one after another, in the order the scheduler gave (a directly
// chained sequence), each as a child process `kubeqa worker run-job` in its own directory and
// process group, with a freshly issued job token. The runner reports through the API like any
// remote runner; this executor only starts and stops processes.
//
// Stopping: the scheduler's onStopped, and a job cancelled through the API (seen as a job event),
// SIGTERM the runner's process group (the runner shuts QEMU down cleanly); SIGKILL follows after
// a grace period. A runner that ends without having ended its job leaves it `incomplete` with
// the reason `runner died: …`, which the scheduler knows as transient and re-queues.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenDatabase } from '../../db/connect.js';
import { setDone } from '../../db/job-actions.js';
import { type JobEvent, subscribeJobEvents } from '../../db/job-events.js';
import { issueJobToken, revokeJobTokens } from '../../db/results.js';
import { isKubeqaError } from '../../domain/errors.js';
import { type GroupChild, spawnInGroup } from '../../runtime/process-group.js';
import { kubeqaCommand } from '../../runtime/self-command.js';
import type { StoppedJob } from '../scheduler/loop.js';
import type { Assignment } from '../scheduler/types.js';
import { DEFAULT_LOCAL_CLASSES, localSlots, runnerDiedReason } from './local-slots.js';
import type { SlotRegistry } from './slot-registry.js';

export type { SlotRegistry };

export interface ExecutorLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface LocalExecutorOptions {
  database: OpenDatabase;
  registry: SlotRegistry;
  /** kubeqa's API as the runners reach it. */
  apiUrl: string;
  /** Each job runs in <workRoot>/job-<id>/ (results, QEMU's files, runner.log). */
  workRoot: string;
  /** Local assets in openQA's layout (iso/, hdd/, other/). */
  assetDir?: string;
  slots: number;
  classes?: readonly string[];
  /** How often the slots report (default 30 s; the scheduler's stale limit is 120 s). */
  heartbeatMs?: number;
  /** SIGTERM → SIGKILL (default 30 s). */
  graceMs?: number;
  /** After a job became done (not cancelled) on the server, how long its runner may take to exit. */
  exitAfterDoneMs?: number;
  log?: ExecutorLog;
  /** The kubeqa CLI to start (default: this installation's, its quick-starting worker entry). */
  command?: () => [string, string[]];
  /** Told when a job's runner has ended and the job's end is recorded (tests, metrics). */
  onJobEnded?: (ended: { jobId: number; slotId: string; exit: { code?: number; signal?: string } }) => void;
}

interface Running {
  jobId: number;
  child: GroupChild;
  stopping: boolean;
}

interface SlotWork {
  id: string;
  queue: number[];
  current?: Running;
  busy: boolean;
}

const quiet: ExecutorLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

export class LocalExecutor {
  private readonly slots = new Map<string, SlotWork>();
  private readonly log: ExecutorLog;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private stopped = true;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(private readonly options: LocalExecutorOptions) {
    this.log = options.log ?? quiet;
    for (const slot of localSlots(options.slots, [], 0))
      this.slots.set(slot.id, { id: slot.id, queue: [], busy: false });
  }

  get slotIds(): string[] {
    return [...this.slots.keys()];
  }

  /** Jobs whose runner is alive, with the runner's pid. */
  runningJobs(): Map<number, number> {
    const out = new Map<number, number>();
    for (const slot of this.slots.values())
      if (slot.current) out.set(slot.current.jobId, slot.current.child.pid);
    return out;
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const { registry } = this.options;
    // jobs our slots held when this process last ended never finish now: end them first
    if (registry.jobsOfSlot) {
      for (const slotId of this.slots.keys()) {
        for (const jobId of await registry.jobsOfSlot(slotId)) {
          await this.endIfRunning(jobId, 'abandoned: kubeqa was restarted while the job ran');
        }
      }
    }
    this.unsubscribe = await subscribeJobEvents(this.options.database, (event) => this.onJobEvent(event));
    const classes = this.options.classes?.length ? this.options.classes : DEFAULT_LOCAL_CLASSES;
    await registry.register(localSlots(this.slots.size, classes, Date.now()));
    const every = this.options.heartbeatMs ?? 30_000;
    this.heartbeatTimer = setInterval(() => {
      registry
        .heartbeat(this.slotIds)
        .catch((error: unknown) => this.log.warn({ err: error }, 'slot heartbeat failed'));
    }, every);
    this.heartbeatTimer.unref();
    this.log.info({ slots: this.slotIds, classes }, 'local executor ready');
  }

  /** The scheduler's onAssigned: run the slot's jobs in the given order. */
  readonly onAssigned = (assignment: Assignment): void => {
    const slot = this.slots.get(assignment.slotId);
    if (!slot || this.stopped) return;
    slot.queue.push(...assignment.jobIds);
    if (!slot.busy) void this.drain(slot);
  };

  /** The scheduler's onStopped: the job ended (timeout, cancel, cluster): stop its runner. */
  readonly onStopped = (stop: StoppedJob): void => {
    const slot = this.slots.get(stop.slotId);
    if (!slot) return;
    this.forget(slot, stop.jobId);
  };

  /** Resolves when no slot has work. */
  idle(): Promise<void> {
    if (![...this.slots.values()].some((s) => s.busy)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops every runner (each ends its job as terminated prematurely), then unregisters the slots. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    for (const slot of this.slots.values()) {
      slot.queue.length = 0;
      if (slot.current) void this.stopChild(slot.current);
    }
    await this.idle();
    await this.unsubscribe?.().catch(() => undefined);
    await this.options.registry.remove(this.slotIds).catch((error: unknown) => {
      this.log.warn({ err: error }, 'could not unregister the local slots');
    });
  }

  private onJobEvent(event: JobEvent): void {
    if (event.type !== 'job.state' && event.type !== 'job.deleted') return;
    const ids = event.type === 'job.state' ? [event.id] : event.ids;
    const ended = event.type === 'job.deleted' || event.state === 'cancelled' || event.state === 'done';
    if (!ended) return;
    for (const slot of this.slots.values()) {
      for (const id of ids) {
        if (event.type === 'job.state' && event.state === 'done' && slot.current?.jobId === id) {
          // the runner set it done itself (or the scheduler did): it should exit on its own
          const running = slot.current;
          setTimeout(() => {
            if (!running.child.hasExited()) void this.stopChild(running);
          }, this.options.exitAfterDoneMs ?? 30_000).unref();
          continue;
        }
        this.forget(slot, id);
      }
    }
  }

  /** Drop a job from a slot: out of the queue, its runner stopped. */
  private forget(slot: SlotWork, jobId: number): void {
    const at = slot.queue.indexOf(jobId);
    if (at >= 0) slot.queue.splice(at, 1);
    if (slot.current?.jobId === jobId) void this.stopChild(slot.current);
  }

  private async stopChild(running: Running): Promise<void> {
    if (running.stopping) return;
    running.stopping = true;
    this.log.info({ jobId: running.jobId, pid: running.child.pid }, 'stopping the runner');
    await running.child.stop(this.options.graceMs ?? 30_000);
  }

  private async drain(slot: SlotWork): Promise<void> {
    slot.busy = true;
    try {
      for (let jobId = slot.queue.shift(); jobId !== undefined; jobId = slot.queue.shift()) {
        if (this.stopped) break;
        try {
          await this.runOne(slot, jobId);
        } catch (error) {
          this.log.error({ jobId, slotId: slot.id, err: error }, 'could not run the job');
          await this.endIfRunning(jobId, `runner died: ${(error as Error).message}`);
        }
      }
    } finally {
      slot.busy = false;
      if (![...this.slots.values()].some((s) => s.busy))
        for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async runOne(slot: SlotWork, jobId: number): Promise<void> {
    const { database } = this.options;
    const [row] = await database.query<{ state: string }>('select state from jobs where id = $1', [jobId]);
    if (row?.state !== 'assigned') {
      this.log.info({ jobId, state: row?.state ?? 'deleted' }, 'job no longer waits for its runner; skipped');
      return;
    }
    const token = await issueJobToken(database.query, jobId);
    const dir = join(this.options.workRoot, `job-${jobId}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const [command, lead] = (this.options.command ?? (() => kubeqaCommand('worker')))();
    const args = [
      ...lead,
      'worker',
      'run-job',
      '--api',
      this.options.apiUrl,
      '--job',
      String(jobId),
      '--work-dir',
      dir,
    ];
    if (this.options.assetDir) args.push('--asset-dir', this.options.assetDir);
    const child = spawnInGroup(command, args, {
      cwd: dir,
      env: { KUBEQA_JOB_TOKEN: token },
      logFile: join(dir, 'runner.log'),
    });
    const running: Running = { jobId, child, stopping: false };
    slot.current = running;
    this.log.info({ jobId, slotId: slot.id, pid: child.pid, dir }, 'runner started');
    const exit = await child.exited;
    slot.current = undefined;
    this.log.info({ jobId, slotId: slot.id, ...exit }, 'runner ended');
    await this.endIfRunning(jobId, runnerDiedReason(exit));
    // its runner is gone: the token of an ended job is refused anyway, and now removed (a job put
    // back in the queue keeps it until its next runner gets a new one)
    await revokeJobTokens(database.query, [jobId]);
    this.options.onJobEnded?.({
      jobId,
      slotId: slot.id,
      exit: {
        ...(exit.code !== undefined ? { code: exit.code } : {}),
        ...(exit.signal ? { signal: exit.signal } : {}),
      },
    });
  }

  /** Ends a job that is still pending or running (its runner is gone) as incomplete. */
  private async endIfRunning(jobId: number, reason: string): Promise<void> {
    const [row] = await this.options.database.query<{ state: string }>(
      'select state from jobs where id = $1',
      [jobId],
    );
    if (!row || row.state === 'done' || row.state === 'cancelled' || row.state === 'scheduled') return;
    try {
      await setDone(this.options.database, jobId, 'incomplete', reason);
      this.log.warn({ jobId, reason }, 'job ended incomplete');
    } catch (error) {
      // it ended meanwhile (a late set_done, a cancel): that is the job's end
      if (!isKubeqaError(error) || error.code !== 'KQ_ERR_CONFLICT') throw error;
    }
  }
}
