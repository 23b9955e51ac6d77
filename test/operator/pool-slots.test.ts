import { describe, expect, it } from 'vitest';
import { parseSlotId, poolSlots } from '../../operator/executors/pool-slots.js';

describe('poolSlots', () => {
  const pool = (name: string, maxJobs: number, classes: string[]) => ({
    metadata: { name, namespace: 'qa' },
    spec: { workerClasses: classes, maxJobs },
  });

  it('gives each pool maxJobs slots with its sorted classes', () => {
    const slots = poolSlots([pool('a', 2, ['tap', 'qemu_x86_64']), pool('b', 0, ['x'])], new Set(), 5);
    expect(slots).toEqual([
      { id: 'qa/a/0', pool: 'qa/a', classes: ['qemu_x86_64', 'tap'], lastSeen: 5 },
      { id: 'qa/a/1', pool: 'qa/a', classes: ['qemu_x86_64', 'tap'], lastSeen: 5 },
    ]);
  });

  it('keeps busy slots of a shrunk pool until their jobs end', () => {
    const slots = poolSlots([pool('a', 1, ['c'])], new Set(['qa/a/3', 'qa/other/9']), 5);
    expect(slots.map((s) => s.id)).toEqual(['qa/a/0', 'qa/a/3']);
  });

  it('parses slot ids', () => {
    expect(parseSlotId('qa/pool-1/12')).toEqual({ namespace: 'qa', pool: 'pool-1', index: 12 });
    expect(parseSlotId('local/3')).toBeUndefined();
  });
});
