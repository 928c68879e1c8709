import { distance } from 'fastest-levenshtein';

/** `n_jobs`, `N-Jobs` and `njobs` all mean `nJobs`: case, `_` and `-` are what a Python or CLI habit changes. */
function normalize(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

/** The known name `name` most likely means, or undefined when none is close. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const plain = normalize(name);
  const same = known.find((k) => normalize(k) === plain);
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const k of known) {
    const d = distance(plain, normalize(k));
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  // An abbreviation (`maxOldGenSizeMb`) is far in edits but keeps the letters in order.
  return best ?? (plain.length >= 4 ? known.find((k) => isSubsequence(plain, normalize(k))) : undefined);
}

function isSubsequence(short: string, long: string): boolean {
  let at = 0;
  for (let i = 0; i < long.length && at < short.length; i++) if (long[i] === short[at]) at++;
  return at === short.length;
}

/**
 * Refuses keys of `options` that are not in `known`, naming the closest known
 * one: an option spelt wrong would otherwise be ignored without a word.
 */
export function checkKnownOptions(options: object, known: readonly string[], prefix = ''): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const guess = closestName(key, known);
    throw new TypeError(
      guess === undefined
        ? `Unknown option \`${prefix}${key}\`: expected one of ${known.map((k) => `\`${prefix}${k}\``).join(', ')}`
        : `Unknown option \`${prefix}${key}\`: did you mean \`${prefix}${guess}\`?`,
    );
  }
}
