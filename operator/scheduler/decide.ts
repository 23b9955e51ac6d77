// The scheduler's decision: a pure function from what is (jobs, dependencies, slots, clock) to
// what should change (assignments, state changes, restarts, reasons). No I/O; the loop around it
// (loop.ts) reads its input from the store and writes its output back.
//
// One decision, in order:
// 1. slots that stopped reporting: their assigned jobs go back to scheduled, their running jobs
//    end incomplete ("abandoned: …");
// 2. timeouts: MAX_SETUP_TIME / MAX_JOB_TIME × TIMEOUT_SCALE → done/timeout_exceeded;
// 3. follow-up of jobs that ended: a job that did not pass stops its related jobs (clusters.ts),
//    and is restarted when RETRY allows or its reason is a known transient one;
// 4. assignment: scheduled jobs by effective priority (priority − starvation offset), then age,
//    then id; chained parents must have passed, a parallel cluster gets all its slots or none,
//    a directly chained tree goes to one slot as a sequence; slots are matched by worker class
//    through the class-set index.
//
// Jobs without any dependency that no live slot can take are told so without entering the
// ordered assignment loop: they take no slot and touch no other job, so where they would come in
// the order changes nothing. A queue of 15,000 such jobs thus costs one class lookup per job.
import { type ClusterJob, stopSet } from '../../domain/jobs/clusters.js';
import { DependencyGraph } from '../../domain/jobs/dependency-graph.js';
import {
  isExecutionState,
  isFinalState,
  isOkResult,
  type JobStatus,
} from '../../domain/jobs/state-machine.js';
import type { JobResult, JobState } from '../../domain/jobs/states.js';
import { SlotIndex } from './slot-index.js';
import type {
  Assignment,
  Decision,
  DecisionInput,
  RestartRequest,
  SchedulerJob,
  Slot,
  StateChange,
} from './types.js';

const RETRYABLE_RESULTS: readonly JobResult[] = ['failed', 'incomplete', 'timeout_exceeded'];
const NO_JOBS: readonly number[] = [];

function classLabel(classes: readonly string[]): string {
  return classes.length === 0 ? '(any)' : classes.join(',');
}

/** A reason naming a class set, built once per class list (jobs with equal settings share one). */
class ClassReasons {
  private readonly texts = new Map<readonly string[], string>();
  constructor(private readonly prefix: string) {}
  of(classes: readonly string[]): string {
    let text = this.texts.get(classes);
    if (text === undefined) {
      text = `${this.prefix}${classLabel(classes)}`;
      this.texts.set(classes, text);
    }
    return text;
  }
}

export function decide(input: DecisionInput): Decision {
  return new Pass(input).run();
}

class Pass {
  private readonly jobs = new Map<number, SchedulerJob>();
  private readonly status = new Map<number, JobStatus>();
  private readonly graph: DependencyGraph;
  private readonly changes: StateChange[] = [];
  private readonly reasons = new Map<number, string>();
  private readonly restarts: RestartRequest[] = [];
  private readonly assignments: Assignment[] = [];
  private readonly offsets = new Map<number, number>();
  private readonly held = new Map<string, number>();
  private nextWakeAt: number | null = null;
  private readonly slotsById = new Map<string, Slot>();
  private readonly staleSlots = new Set<string>();
  /** Jobs with at least one dependency (the others need no graph lookups). */
  private readonly linked = new Set<number>();

  constructor(private readonly input: DecisionInput) {
    for (const job of input.jobs) {
      this.jobs.set(job.id, job);
      // the job is its own status until something changes it (no copy per job and pass)
      this.status.set(job.id, job);
    }
    // edges to jobs the store did not hand us are ignored (they cannot be reasoned about)
    const edges = input.edges.filter((e) => this.jobs.has(e.parent) && this.jobs.has(e.child));
    this.graph = new DependencyGraph(edges);
    for (const edge of edges) this.linked.add(edge.parent).add(edge.child);
    for (const slot of input.slots) {
      this.slotsById.set(slot.id, slot);
      if (input.now - slot.lastSeen > input.config.slotTimeoutMs) this.staleSlots.add(slot.id);
    }
  }

  run(): Decision {
    const finishedNow = this.expireAndAbandon();
    const followUp = [...new Set([...this.input.finished, ...finishedNow])].sort((a, b) => a - b);
    for (const id of followUp) this.followUp(id);
    this.skipChildrenOfFailedParents();
    this.assign();
    // of the jobs still scheduled: their reasons, and their offsets (this pass's, else carried)
    const scheduled = (id: number) => this.status.get(id)?.state === 'scheduled';
    const reasons = this.reasons;
    for (const id of reasons.keys()) if (!scheduled(id)) reasons.delete(id);
    const offsets = new Map<number, number>();
    for (const id of new Set([...this.offsets.keys(), ...this.input.priorityOffsets.keys()])) {
      const offset = this.offsets.get(id) ?? this.input.priorityOffsets.get(id) ?? 0;
      if (offset !== 0 && scheduled(id)) offsets.set(id, offset);
    }
    return {
      assignments: this.assignments,
      changes: this.changes,
      reasons,
      restarts: this.restarts,
      followedUp: this.input.finished.filter((id) => this.jobs.has(id)),
      priorityOffsets: offsets,
      heldSlots: this.held,
      nextWakeAt: this.nextWakeAt,
    };
  }

  // --- helpers -------------------------------------------------------------------------------

  private st(id: number): JobStatus | undefined {
    return this.status.get(id);
  }

  private lookup = (id: number): ClusterJob | undefined => {
    const job = this.jobs.get(id);
    const st = this.status.get(id);
    return job && st ? { ...job, state: st.state, result: st.result } : undefined;
  };

  private change(jobId: number, state: JobState, result: JobResult, reason: string | null): void {
    const current = this.status.get(jobId)!;
    const from = { state: current.state, result: current.result };
    const to = { state, result };
    this.changes.push({ jobId, from, to, reason });
    this.status.set(jobId, to);
  }

  private wakeAt(at: number): void {
    if (this.nextWakeAt === null || at < this.nextWakeAt) this.nextWakeAt = at;
  }

  // --- 1 + 2: stale slots and timeouts --------------------------------------------------------

  private expireAndAbandon(): number[] {
    const { now, config } = this.input;
    const finished: number[] = [];
    // per slot: is a job past `assigned`, and which assigned job comes first in the sequence
    const active = new Set<string>();
    const head = new Map<string, SchedulerJob>();
    for (const job of this.jobs.values()) {
      if (!job.slotId || job.state === 'scheduled' || !isExecutionState(job.state)) continue;
      if (job.state !== 'assigned') active.add(job.slotId);
      else {
        const current = head.get(job.slotId);
        if (!current || (job.sequenceIndex ?? 0) < (current.sequenceIndex ?? 0)) head.set(job.slotId, job);
      }
    }
    const executing = [...this.jobs.values()]
      .filter((job) => job.state !== 'scheduled' && isExecutionState(job.state))
      .sort((a, b) => a.id - b.id);
    for (const job of executing) {
      const slot = job.slotId ? this.slotsById.get(job.slotId) : undefined;
      if (!slot || this.staleSlots.has(slot.id)) {
        const what = !slot ? `slot ${job.slotId ?? '(none)'} is gone` : undefined;
        if (job.state === 'assigned') {
          this.change(
            job.id,
            'scheduled',
            'none',
            `${what ?? `slot ${slot!.id} stopped reporting`} before starting the job; scheduled again`,
          );
        } else {
          const age = slot ? Math.round((now - slot.lastSeen) / 1000) : 0;
          this.change(
            job.id,
            'done',
            'incomplete',
            `abandoned: ${what ?? `slot ${slot!.id} has not reported for ${age} s`}`,
          );
          finished.push(job.id);
        }
        continue;
      }
      this.wakeAt(slot.lastSeen + config.slotTimeoutMs + 1);
      const scale = job.timeoutScale;
      if (
        job.state === 'setup' ||
        (job.state === 'assigned' && !active.has(slot.id) && head.get(slot.id) === job)
      ) {
        let start = job.state === 'setup' ? (job.setupAt ?? job.assignedAt) : job.assignedAt;
        if (job.state === 'assigned') {
          // in a sequence, the clock starts when the job before it in the slot ended
          for (const parent of this.graph.parentsOf(job.id, 'directly_chained')) {
            const p = this.jobs.get(parent);
            if (p?.finishedAt != null && p.slotId === job.slotId) start = Math.max(start ?? 0, p.finishedAt);
          }
        }
        if (start == null) continue;
        const limit = job.maxSetupSeconds * scale * 1000;
        if (now - start >= limit) {
          this.change(
            job.id,
            'done',
            'timeout_exceeded',
            `timeout: setup exceeded MAX_SETUP_TIME (${Math.round(limit / 1000)} s)`,
          );
          finished.push(job.id);
        } else this.wakeAt(start + limit);
      } else if (job.state === 'running' && job.startedAt != null) {
        const limit = job.maxJobSeconds * scale * 1000;
        if (now - job.startedAt >= limit) {
          this.change(
            job.id,
            'done',
            'timeout_exceeded',
            `timeout: test execution exceeded MAX_JOB_TIME (${Math.round(limit / 1000)} s)`,
          );
          finished.push(job.id);
        } else this.wakeAt(job.startedAt + limit);
      }
    }
    return finished;
  }

  // --- 3: follow-up of ended jobs -------------------------------------------------------------

  private followUp(id: number): void {
    const job = this.jobs.get(id);
    const st = this.st(id);
    if (!job || !st || !isFinalState(st.state)) return;
    if (!isOkResult(st.result)) this.stopRelated(id, st.result);
    if (job.clonedAs != null) return;
    const reason = this.changes.find((c) => c.jobId === id)?.reason ?? job.reason ?? '';
    const { config } = this.input;
    if (st.result === 'incomplete' && config.transientReason.test(reason)) {
      if (job.incompleteAncestors < config.autoCloneLimit) {
        this.restarts.push({ jobId: id, why: `auto-clone: "${reason}" is a known transient failure` });
        return;
      }
    }
    if (RETRYABLE_RESULTS.includes(st.result) && job.retry > job.ancestors) {
      this.restarts.push({
        jobId: id,
        why: `RETRY=${job.retry}: restarted ${job.ancestors} time(s) so far`,
      });
    }
  }

  /** Stops the jobs related to a job that did not pass (openQA's cancel-mode cluster). */
  private stopRelated(origin: number, result: JobResult): void {
    for (const id of stopSet(this.graph, this.lookup, origin)) {
      const st = this.st(id);
      if (!st || isFinalState(st.state)) continue;
      if (st.state === 'scheduled' || st.state === 'assigned')
        this.change(id, 'cancelled', 'skipped', `skipped: related job ${origin} ended ${result}`);
      else this.change(id, 'cancelled', 'parallel_failed', `stopped: related job ${origin} ended ${result}`);
    }
  }

  // --- 3: skips ---------------------------------------------------------------------------------

  /**
   * Skips every scheduled job whose chained or directly chained parent ended without passing (and,
   * through stopRelated, what depends on it) before any slot is handed out, so no job is assigned
   * in a pass that also skips it.
   */
  private skipChildrenOfFailedParents(): void {
    // a job without dependencies has no parent to wait for
    const scheduled = [...this.linked]
      .filter((id) => this.st(id)?.state === 'scheduled')
      .sort((a, b) => a - b);
    for (const id of scheduled) if (this.st(id)?.state === 'scheduled') this.blockedBy(id);
  }

  // --- 4: assignment --------------------------------------------------------------------------

  private assign(): void {
    const { config } = this.input;
    const busy = new Set<string>();
    for (const job of this.jobs.values()) {
      const st = this.st(job.id)!;
      if (job.slotId && isExecutionState(st.state)) busy.add(job.slotId);
    }
    const online = this.input.slots.filter((slot) => !this.staleSlots.has(slot.id));
    const onlineIndex = new SlotIndex(online);
    const free = new SlotIndex(online.filter((slot) => !busy.has(slot.id)));
    const limit =
      config.maxRunningJobs > 0 && Number.isFinite(config.maxRunningJobs)
        ? config.maxRunningJobs
        : Number.POSITIVE_INFINITY;
    let running = [...busy].filter((id) => !this.staleSlots.has(id)).length;

    const offset = (id: number) => this.input.priorityOffsets.get(id) ?? 0;
    const noSlot = new ClassReasons('no slot of class ');
    const noFreeSlot = new ClassReasons('no free slot of class ');
    const ordered: Array<{ job: SchedulerJob; effective: number }> = [];
    for (const job of this.jobs.values()) {
      if (this.st(job.id)!.state !== 'scheduled') continue;
      // without dependencies and without a live slot of its classes, a job's turn in the order
      // changes nothing: it takes no slot and touches no other job (see the top of this file)
      if (!this.linked.has(job.id) && !onlineIndex.hasMatch(job.workerClasses)) {
        this.reasons.set(job.id, noSlot.of(job.workerClasses));
        continue;
      }
      ordered.push({ job, effective: job.priority - offset(job.id) });
    }
    ordered.sort(
      (a, b) => a.effective - b.effective || a.job.createdAt - b.job.createdAt || a.job.id - b.job.id,
    );
    const decided = new Set<number>();

    for (const { job } of ordered) {
      if (decided.has(job.id) || this.st(job.id)!.state !== 'scheduled') continue;
      const linked = this.linked.has(job.id);
      if (!linked) {
        // the general steps below for one job without dependencies (it has a slot class online)
        if (running >= limit) {
          this.reasons.set(job.id, `global limit reached: ${running} of ${limit} jobs running`);
          continue;
        }
        const slot = free.take(job.workerClasses);
        if (slot) {
          this.assignSequence(job.id, slot, decided);
          running += 1;
        } else this.reasons.set(job.id, noFreeSlot.of(job.workerClasses));
        continue;
      }

      // a job that runs directly after another waits for that one's sequence
      const directParents = linked ? this.graph.parentsOf(job.id, 'directly_chained') : NO_JOBS;
      const waitingDirect = directParents.find((p) => !isFinalState(this.st(p)?.state ?? 'done'));
      if (waitingDirect !== undefined) {
        this.reasons.set(job.id, `runs directly after job ${waitingDirect} in the same slot`);
        decided.add(job.id);
        continue;
      }

      const cluster = linked ? this.graph.parallelCluster(job.id) : [job.id];
      const members = cluster.filter((id) => this.st(id)?.state === 'scheduled');
      const halfRunning = cluster.some((id) => isExecutionState(this.st(id)?.state ?? 'done'));
      for (const id of members) decided.add(id);

      // every member must be free of unfinished or failed parents, and have slots of its classes
      let blocked: { by: number; why: string } | null = null;
      let skipped = false;
      for (const id of members) {
        const why = this.blockedBy(id);
        if (why === 'skipped') {
          skipped = true;
          break;
        }
        if (why !== null && blocked === null) blocked = { by: id, why };
      }
      if (skipped) continue;
      if (blocked === null) {
        const unmatched = members.find((id) => !onlineIndex.hasMatch(this.jobs.get(id)!.workerClasses));
        if (unmatched !== undefined)
          blocked = {
            by: unmatched,
            why: `no slot of class ${classLabel(this.jobs.get(unmatched)!.workerClasses)}`,
          };
      }
      if (blocked !== null) {
        const { by, why } = blocked;
        for (const id of members)
          this.reasons.set(id, id === by ? why : `${why} (parallel cluster member ${by})`);
        continue;
      }
      if (running >= limit && !halfRunning) {
        for (const id of members)
          this.reasons.set(id, `global limit reached: ${running} of ${limit} jobs running`);
        continue;
      }

      // all slots or none
      const picked: Array<{ id: number; slot: Slot }> = [];
      let missing: SchedulerJob | null = null;
      for (const id of members) {
        const m = this.jobs.get(id)!;
        const slot = free.take(m.workerClasses);
        if (!slot) {
          missing = m;
          break;
        }
        picked.push({ id, slot });
      }
      if (missing === null) {
        for (const { id, slot } of picked) this.assignSequence(id, slot, decided);
        running += picked.length;
        continue;
      }
      const label = `no free slot of class ${classLabel(missing.workerClasses)}`;
      if (members.length === 1 || halfRunning) {
        for (const { slot } of picked) free.add(slot);
        for (const id of members) this.reasons.set(id, label);
        continue;
      }
      // starvation protection: the cluster gains priority each pass it cannot start; once its
      // effective priority reaches 0 it keeps the slots it could get until it has all of them
      const gained = offset(job.id) + config.starvationStep;
      for (const id of members) this.offsets.set(id, gained);
      const hold = job.priority - gained <= 0;
      if (hold) for (const { id, slot } of picked) this.held.set(slot.id, id);
      else for (const { slot } of picked) free.add(slot);
      const suffix = hold ? `; holding ${picked.length} slot(s) for it` : '';
      for (const id of members)
        this.reasons.set(
          id,
          `parallel cluster of ${members.length} jobs waits for all its slots: ${label} for job ${missing.id}${suffix}`,
        );
    }
  }

  /**
   * Why a scheduled job cannot start yet because of its chained/directly chained parents (null:
   * it can); "skipped" when a parent ended without passing, in which case the job is skipped now.
   */
  private blockedBy(id: number): string | null {
    if (!this.linked.has(id)) return null;
    for (const kind of ['chained', 'directly_chained'] as const) {
      for (const parent of this.graph.parentsOf(id, kind)) {
        const st = this.st(parent);
        if (!st) continue;
        if (!isFinalState(st.state)) return `waiting for job ${parent}`;
        if (!isOkResult(st.result)) {
          this.change(id, 'cancelled', 'skipped', `skipped: parent job ${parent} ended ${st.result}`);
          this.stopRelated(id, 'skipped');
          return 'skipped';
        }
      }
    }
    return null;
  }

  /** Gives a slot the job and its directly chained sub-trees, in the order they run. */
  private assignSequence(root: number, slot: Slot, decided: Set<number>): void {
    const slotClasses = new Set(slot.classes);
    const inSequence = new Set<number>([root]);
    const sequence = this.graph.directlyChainedSequence(
      root,
      (id) => this.jobs.get(id)?.test ?? '',
      (id) => {
        const job = this.jobs.get(id);
        if (!job || this.st(id)?.state !== 'scheduled') return false;
        if (!job.workerClasses.every((cls) => slotClasses.has(cls))) {
          this.reasons.set(
            id,
            `slot ${slot.id} of its directly chained parent lacks class ${classLabel(job.workerClasses)}`,
          );
          return false;
        }
        if (this.graph.parallelCluster(id).length > 1) {
          this.reasons.set(id, 'a directly chained child cannot also be part of a parallel cluster');
          return false;
        }
        for (const parent of this.graph.parentsOf(id, 'chained')) {
          const st = this.st(parent);
          if (st && !(isFinalState(st.state) && isOkResult(st.result))) {
            this.reasons.set(id, `waiting for job ${parent}`);
            return false;
          }
        }
        // a job with several directly chained parents goes with the last of them to be ready
        for (const parent of this.graph.parentsOf(id, 'directly_chained')) {
          const st = this.st(parent);
          if (!inSequence.has(parent) && st && !(isFinalState(st.state) && isOkResult(st.result))) {
            this.reasons.set(id, `runs directly after job ${parent} in the same slot`);
            return false;
          }
        }
        inSequence.add(id);
        return true;
      },
    );
    for (const id of sequence) {
      decided.add(id);
      this.reasons.delete(id);
      this.status.set(id, { state: 'assigned', result: 'none' });
    }
    this.assignments.push({ slotId: slot.id, jobIds: sequence });
  }
}
