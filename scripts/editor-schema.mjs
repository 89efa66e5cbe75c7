// The schema the editor's JSON language server is given (package.json jsonValidation): the
// shipped schema (schemas/mlp.schema.json) with its descriptions, defaults and structure for
// hovers and completion, and none of its checks. Layerwise's own validator checks the file with
// the full schema (located, with "did you mean" and a quick fix); the language server checking it
// too reported every mistake twice. Allowed values become `examples` (still completed).
const CHECKS = new Set([
  'type',
  'required',
  'additionalProperties',
  'minItems',
  'maxItems',
  'minLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
]);

/** The schema without its checks: enum and const become examples; properties, items, anyOf, $ref and definitions are walked. */
export function editorSchema(s) {
  if (Array.isArray(s)) return s.map(editorSchema);
  if (typeof s !== 'object' || s === null) return s;
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    if (CHECKS.has(k)) continue;
    if (k === 'enum') out.examples = [...v];
    else if (k === 'const') out.examples = [v];
    else if (k === 'properties' || k === 'definitions')
      out[k] = Object.fromEntries(Object.entries(v).map(([p, x]) => [p, editorSchema(x)]));
    else if (k === 'items' || k === 'anyOf') out[k] = editorSchema(v);
    else out[k] = v;
  }
  return out;
}
