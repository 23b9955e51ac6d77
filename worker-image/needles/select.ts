// Which needles an assert_screen/check_screen considers, with openQA's semantics: a string of
// space-separated tags wants needles carrying ALL of them; an array wants needles matching ANY of
// its elements (each element may itself be such a string).
import { KubeqaError } from '../../domain/errors.js';
import type { Needle } from '../../domain/needles/types.js';

function withAllTags(needles: Needle[], wanted: string): Needle[] {
  const tags = wanted.split(/\s+/).filter((t) => t !== '');
  if (tags.length === 0) return [];
  return needles.filter((needle) => tags.every((tag) => needle.tags.includes(tag)));
}

export function selectNeedles(needles: Needle[], tags: string | string[]): Needle[] {
  const wanted = typeof tags === 'string' ? [tags] : tags;
  if (!Array.isArray(wanted) || wanted.some((t) => typeof t !== 'string') || wanted.join('').trim() === '') {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `needle tags must be a non-empty string or an array of strings, got ${JSON.stringify(tags)}`,
      "pass e.g. 'boot-menu', 'installer language' (both tags on one needle) or ['a', 'b'] (either)",
    );
  }
  const chosen = new Set<Needle>();
  for (const element of wanted) for (const needle of withAllTags(needles, element)) chosen.add(needle);
  // Keep the directory's order, whatever the order of the tags.
  return needles.filter((n) => chosen.has(n));
}
