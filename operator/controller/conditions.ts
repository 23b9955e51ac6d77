// Status conditions (metav1.Condition): set one, keeping lastTransitionTime when the status did
// not change. Pure.

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition<R extends string = string> {
  type: string;
  status: ConditionStatus;
  reason: R;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** The conditions with `next` set; order kept, new types appended. */
export function setCondition<R extends string>(
  conditions: readonly Condition<R>[] | undefined,
  next: Omit<Condition<R>, 'lastTransitionTime'>,
  now: Date,
): Condition<R>[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === next.type);
  const previous = index >= 0 ? list[index] : undefined;
  const lastTransitionTime =
    previous && previous.status === next.status
      ? previous.lastTransitionTime
      : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const condition: Condition<R> = { ...next, lastTransitionTime };
  if (index >= 0) list[index] = condition;
  else list.push(condition);
  return list;
}

export function findCondition<R extends string>(
  conditions: readonly Condition<R>[] | undefined,
  type: string,
): Condition<R> | undefined {
  return conditions?.find((c) => c.type === type);
}
