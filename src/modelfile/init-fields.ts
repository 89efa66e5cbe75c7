/**
 * Which fields of an init object each scheme reads: the model file's "ignored" warnings
 * (interpret.ts) and the quick fix that changes a layer's scheme (extension/model-edits.ts) ask
 * here. No imports: the extension host bundles it alone.
 */

/** The parameters an init object's scheme reads besides `gain` and `mode`. */
const SCHEME_FIELDS: Partial<Record<string, readonly string[]>> = {
  normal: ['mean', 'std'],
  trunc_normal: ['mean', 'std', 'a', 'b'],
  uniform: ['low', 'high'],
  constant: ['value'],
};
const NO_GAIN: readonly string[] = ['zeros', 'ones', 'constant', 'normal', 'trunc_normal', 'uniform', 'pytorch'];

/** Whether an init object's `key` is read by `scheme` (where not, the file says it is ignored). */
export function initReads(scheme: string, key: string): boolean {
  if (key === 'gain') return !NO_GAIN.includes(scheme);
  if (key === 'mode') return /^(he|lecun)_/.test(scheme);
  return SCHEME_FIELDS[scheme]?.includes(key) ?? false;
}
