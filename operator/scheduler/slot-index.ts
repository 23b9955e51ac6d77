// Slots grouped by their exact class set, so matching a job costs O(number of distinct class
// sets), not O(slots): a job needing {A, B} may use every group whose set contains A and B. The
// groups a requirement matches are computed once per distinct requirement and cached; within
// them, groups with fewer classes come first (best fit), so specialised slots stay free for the
// jobs that need them.
import type { Slot } from './types.js';

interface Group {
  readonly key: string;
  readonly classes: ReadonlySet<string>;
  readonly free: Slot[];
}

export function classKey(classes: readonly string[]): string {
  // most jobs name one class (or none): no copy, sort and join for them
  if (classes.length <= 1) return classes[0] ?? '';
  return [...classes].sort().join(',');
}

export class SlotIndex {
  private readonly groups = new Map<string, Group>();
  private readonly matches = new Map<string, Group[]>();
  private size = 0;

  constructor(slots: Iterable<Slot> = []) {
    for (const slot of slots) this.add(slot);
  }

  get freeCount(): number {
    return this.size;
  }

  add(slot: Slot): void {
    const key = classKey(slot.classes);
    let group = this.groups.get(key);
    if (!group) {
      group = { key, classes: new Set(slot.classes), free: [] };
      this.groups.set(key, group);
      this.matches.clear();
    }
    group.free.push(slot);
    this.size += 1;
  }

  private groupsFor(required: readonly string[]): Group[] {
    const key = classKey(required);
    let found = this.matches.get(key);
    if (!found) {
      found = [...this.groups.values()]
        .filter((group) => required.every((cls) => group.classes.has(cls)))
        .sort((a, b) => a.classes.size - b.classes.size || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      this.matches.set(key, found);
    }
    return found;
  }

  /** Whether any slot (free or not, as indexed) offers every required class. */
  hasMatch(required: readonly string[]): boolean {
    return this.groupsFor(required).length > 0;
  }

  /** Takes a free slot offering every required class, or returns undefined. */
  take(required: readonly string[]): Slot | undefined {
    if (this.size === 0) return undefined;
    for (const group of this.groupsFor(required)) {
      const slot = group.free.pop();
      if (slot) {
        this.size -= 1;
        return slot;
      }
    }
    return undefined;
  }
}
