// The local executor's pure decisions: how many slots this machine offers, what they look like
// to the scheduler, and what to say when a runner process ends without reporting its job.
import type { Slot } from '../scheduler/types.js';

/** The embedded executor's worker pool name. */
export const LOCAL_POOL = 'local';

/** Default worker classes of local slots (openQA's convention for QEMU on x86_64). */
export const DEFAULT_LOCAL_CLASSES = ['qemu_x86_64'];

export interface MachineSize {
  cpus: number;
  /** Total memory in bytes. */
  memoryBytes: number;
}

/** What one job needs: QEMU with 2 vCPUs (the demos' QEMUCPUS) and about 1.5 GiB with QEMU's overhead. */
export const PER_JOB = { cpus: 2, memoryBytes: 1.5 * 1024 ** 3 };

/**
 * Slots a machine runs at once by default: as many jobs as its CPUs (2 each) and its memory
 * (keeping a quarter for everything else) allow; at least one.
 */
export function defaultSlotCount(machine: MachineSize): number {
  const byCpu = Math.floor(machine.cpus / PER_JOB.cpus);
  const byMemory = Math.floor((machine.memoryBytes * 0.75) / PER_JOB.memoryBytes);
  return Math.max(1, Math.min(byCpu, byMemory));
}

export function localSlotId(index: number): string {
  return `${LOCAL_POOL}/${index}`;
}

/** The executor's slots as the scheduler sees them. */
export function localSlots(count: number, classes: readonly string[], now: number): Slot[] {
  const sorted = [...new Set(classes.map((c) => c.trim()).filter(Boolean))].sort();
  return Array.from({ length: count }, (_, i) => ({
    id: localSlotId(i),
    pool: LOCAL_POOL,
    classes: sorted,
    lastSeen: now,
  }));
}

/** The reason of a job whose runner ended without set_done (the scheduler treats it as transient). */
export function runnerDiedReason(exit: { code: number | undefined; signal: string | undefined }): string {
  if (exit.signal) return `runner died: killed by ${exit.signal}`;
  if (exit.code === undefined) return 'runner died: it could not be started';
  return `runner died: exit code ${exit.code} without reporting the job's end`;
}
