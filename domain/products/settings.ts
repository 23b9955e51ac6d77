// Settings of one job from the layers that define it, with openQA's rules:
//  - precedence product < machine < test suite < job template < request (later layers win);
//  - `+VAR` in any layer sets VAR and keeps later layers from overriding it;
//  - WORKER_CLASS from product, machine, test suite and template is the union of their values
//    (a worker must have every class); the request replaces it unless a layer locked it with +;
//  - `%VAR%` in a value is replaced by VAR's value (recursively; a cycle is an error).
// Pure functions, no I/O.
import { KubeqaError } from '../errors.js';

export type Settings = Record<string, string>;

/** Merges layers, lowest precedence first; the last layer is the request (callers drop its `_…` control keys). */
export function mergeSettings(layers: readonly Settings[]): Settings {
  const merged: Settings = {};
  const locked = new Set<string>();
  const workerClasses: string[] = [];
  let workerClassFromConfig = true;
  layers.forEach((layer, index) => {
    const isRequest = index === layers.length - 1 && layers.length > 1;
    for (const [rawKey, value] of Object.entries(layer)) {
      const plus = rawKey.startsWith('+');
      const key = plus ? rawKey.slice(1) : rawKey;
      if (key.length === 0) continue;
      if (locked.has(key) && !plus) continue;
      if (key === 'WORKER_CLASS' && !plus && !isRequest && workerClassFromConfig) {
        for (const c of value.split(',').map((s) => s.trim()))
          if (c && !workerClasses.includes(c)) workerClasses.push(c);
        merged[key] = workerClasses.join(',');
        continue;
      }
      if (key === 'WORKER_CLASS') workerClassFromConfig = false;
      merged[key] = value;
      if (plus) locked.add(key);
    }
  });
  return merged;
}

const PLACEHOLDER = /%([A-Za-z0-9_]+)%/g;

/** Replaces %VAR% placeholders; unknown names stay as they are. Throws on a cycle. */
export function expandPlaceholders(settings: Settings): Settings {
  const out: Settings = {};
  const resolving = new Set<string>();
  const resolve = (key: string): string => {
    const done = out[key];
    if (done !== undefined) return done;
    const raw = settings[key];
    if (raw === undefined) return `%${key}%`;
    if (resolving.has(key)) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_SETTING',
        `the setting ${key} refers to itself through %…% placeholders (${[...resolving, key].join(' → ')})`,
        'break the cycle: one of these settings must have a value without placeholders',
      );
    }
    resolving.add(key);
    const value = raw.replace(PLACEHOLDER, (whole, name: string) =>
      name in settings ? resolve(name) : whole,
    );
    resolving.delete(key);
    out[key] = value;
    return value;
  };
  for (const key of Object.keys(settings)) resolve(key);
  return out;
}

/** Asset settings → (type, name), as openQA registers them: ISO*, HDD_n, UEFI_PFLASH_VARS, KERNEL, INITRD, REPO_n, ASSET_n. */
export function assetsOfSettings(settings: Settings): { type: string; name: string }[] {
  const found: { type: string; name: string }[] = [];
  for (const [key, value] of Object.entries(settings)) {
    if (!value || value.includes('/') || value.startsWith('%')) continue;
    let type: string | undefined;
    if (/^ISO(_\d+)?$/.test(key)) type = 'iso';
    else if (/^HDD_\d+$/.test(key) || key === 'UEFI_PFLASH_VARS') type = 'hdd';
    else if (/^REPO_\d+$/.test(key)) type = 'repo';
    else if (key === 'KERNEL' || key === 'INITRD' || /^ASSET_\d+$/.test(key)) type = 'other';
    if (type && !found.some((a) => a.type === type && a.name === value)) found.push({ type, name: value });
  }
  return found;
}
