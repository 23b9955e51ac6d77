// Ingest requests of concurrent Job reconciles gathered into one transaction: under a burst of
// new Job CRs (kubectl apply of thousands) one insert per table serves many CRs instead of one
// transaction each. Up to `maxInFlight` batches (default 2) are written at a time, so a CR arriving
// while a batch commits waits for no more than its own; requests arriving while all are busy form
// the next. Batches holding members of the same group serialise on the group's advisory lock
// (ingestJobResources), and the later one finds the earlier one's rows. A batch that fails is
// retried request by request, so one bad group fails only itself.
import type { OpenDatabase } from '../../db/connect.js';
import { type IngestMember, ingestJobResources } from '../../db/job-resources.js';

interface Request {
  members: IngestMember[];
  parentIds: Map<string, number>;
  lockKey: string;
  resolve(ids: Map<string, number>): void;
  reject(error: unknown): void;
}

export class IngestBatcher {
  private pending: Request[] = [];
  private writing = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly database: OpenDatabase,
    private readonly options: { windowMs?: number; maxMembers?: number; maxInFlight?: number } = {},
  ) {}

  /** Ingests one group; `parentIds` by "namespace/name". Resolves with job ids by uid. */
  submit(
    members: IngestMember[],
    parentIds: Map<string, number>,
    lockKey: string,
  ): Promise<Map<string, number>> {
    return new Promise((resolve, reject) => {
      this.pending.push({ members, parentIds, lockKey, resolve, reject });
      const size = this.pending.reduce((n, r) => n + r.members.length, 0);
      if (size >= (this.options.maxMembers ?? 500)) this.flushSoon(0);
      else this.flushSoon(this.options.windowMs ?? 10);
    });
  }

  private flushSoon(delay: number): void {
    if (this.writing >= (this.options.maxInFlight ?? 2)) return; // a batch done flushes the next
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), delay);
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    if (this.writing >= (this.options.maxInFlight ?? 2) || this.pending.length === 0) return;
    this.writing++;
    const batch = this.pending.splice(0, this.pending.length);
    try {
      const parentIds = new Map<string, number>();
      for (const request of batch) for (const [k, v] of request.parentIds) parentIds.set(k, v);
      const ids = await ingestJobResources(
        this.database,
        batch.flatMap((r) => r.members),
        parentIds,
        batch.map((r) => r.lockKey),
      );
      for (const request of batch) request.resolve(ids);
    } catch {
      for (const request of batch) {
        try {
          request.resolve(
            await ingestJobResources(this.database, request.members, request.parentIds, [request.lockKey]),
          );
        } catch (error) {
          request.reject(error);
        }
      }
    } finally {
      this.writing--;
      if (this.pending.length > 0) this.flushSoon(0);
    }
  }
}
