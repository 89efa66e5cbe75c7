/**
 * Validates a positioned JSON tree against the shipped JSON Schema (schemas/mlp.schema.json),
 * collecting every problem with its range. Supports the keywords that schema uses: type, enum,
 * const, required, properties, additionalProperties (false → a warning with "did you mean"),
 * items, min/maxItems, minLength, minimum, maximum, exclusiveMinimum/Maximum, anyOf (the branch
 * matching the value's type, or its `const` discriminator), $ref to #/definitions.
 */
import type { JsonNode, JsonObject } from './jsonc';
import { lineCol } from './jsonc';
import type { Problem } from './problems';
import { didYouMean, pathString, type PathPart } from './problems';

export interface Schema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  anyOf?: Schema[];
  $ref?: string;
  definitions?: Record<string, Schema>;
  description?: string;
  default?: unknown;
}

function typeOf(n: JsonNode): string {
  if (n.kind === 'number') return Number.isInteger(n.value) ? 'integer' : 'number';
  return n.kind;
}

function typeMatches(n: JsonNode, t: string): boolean {
  const k = typeOf(n);
  return k === t || (t === 'number' && k === 'integer');
}

function article(t: string): string {
  return t === 'integer' || t === 'object' || t === 'array' ? `an ${t}` : t === 'null' ? 'null' : `a ${t}`;
}

function show(n: JsonNode, text: string): string {
  if (n.kind === 'string') return JSON.stringify(n.value.length > 40 ? n.value.slice(0, 40) + '…' : n.value);
  if (n.kind === 'object') return 'an object';
  if (n.kind === 'array') return 'an array';
  const s = text.slice(n.start, n.end);
  return s.length > 40 ? s.slice(0, 40) + '…' : s;
}

/** The allowed values of a schema, for messages. */
function describeSchema(s: Schema, root: Schema): string {
  const r = resolve(s, root);
  if (r.enum) return `one of ${r.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (r.const !== undefined) return JSON.stringify(r.const);
  if (r.anyOf) return r.anyOf.map((b) => describeSchema(b, root)).join(' or ');
  const t = Array.isArray(r.type) ? r.type : r.type ? [r.type] : [];
  return t.map(article).join(' or ') || 'a value';
}

function resolve(s: Schema, root: Schema): Schema {
  let r = s;
  for (let guard = 0; r.$ref && guard < 16; guard++) {
    const name = r.$ref.replace('#/definitions/', '');
    const target = root.definitions?.[name];
    if (!target) throw new Error(`schema: unresolved $ref ${r.$ref}`);
    const { $ref: _ignored, ...rest } = r;
    r = { ...target, ...rest };
  }
  return r;
}

export class SchemaValidator {
  constructor(private readonly root: Schema) {}

  validate(node: JsonNode, text: string): Problem[] {
    const out: Problem[] = [];
    this.check(node, this.root, [], text, out);
    return out;
  }

  private check(n: JsonNode, schema: Schema, path: PathPart[], text: string, out: Problem[]): void {
    const s = resolve(schema, this.root);
    const here = pathString(path);
    const err = (message: string, start = n.start, end = n.end): void => {
      out.push({ severity: 'error', start, end, path: here, message });
    };
    if (n.kind === 'number' && !Number.isFinite(n.value)) {
      err(`the number ${show(n, text)} is out of range; write a finite number`);
      return;
    }
    if (s.anyOf) {
      const byType = s.anyOf.filter((b) => this.accepts(b, n));
      if (byType.length === 0) {
        err(`must be ${describeSchema(s, this.root)}, not ${show(n, text)}`);
        return;
      }
      let pick = byType[0]!;
      if (byType.length > 1 && n.kind === 'object') {
        const d = byType.find((b) => this.discriminates(b, n));
        if (d) pick = d;
        else {
          const key = this.discriminatorKey(byType);
          if (key) {
            const p = n.props.find((q) => q.key === key);
            const allowed = byType.map((b) => JSON.stringify(resolve(b, this.root).properties![key]!.const)).join(', ');
            if (!p) err(`missing required property "${key}" (one of ${allowed})`, n.start, n.start + 1);
            else
              this.check(
                p.value,
                { enum: byType.map((b) => resolve(b, this.root).properties![key]!.const) },
                [...path, key],
                text,
                out,
              );
            return;
          }
        }
      }
      this.check(n, { ...pick, ...(s.description ? {} : {}) }, path, text, out);
      return;
    }
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? s.type : [s.type];
      if (!types.some((t) => typeMatches(n, t))) {
        err(`must be ${types.map(article).join(' or ')}, not ${show(n, text)}`);
        return;
      }
    }
    if (s.const !== undefined && !(n.kind !== 'object' && n.kind !== 'array' && 'value' in n && n.value === s.const)) {
      err(`must be ${JSON.stringify(s.const)}, not ${show(n, text)}`);
      return;
    }
    if (s.enum) {
      const v =
        n.kind === 'string' || n.kind === 'number' || n.kind === 'boolean'
          ? n.value
          : n.kind === 'null'
            ? null
            : undefined;
      if (!s.enum.includes(v as never)) {
        const names = s.enum.filter((e): e is string => typeof e === 'string');
        const hint = n.kind === 'string' ? didYouMean(n.value, names) : '';
        err(`${show(n, text)} is not allowed; use one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}${hint}`);
        return;
      }
    }
    if (n.kind === 'number') {
      const v = n.value;
      if (!Number.isFinite(v)) {
        err(`the number ${show(n, text)} is out of range`);
        return;
      }
      if (s.minimum !== undefined && v < s.minimum) err(`must be ≥ ${s.minimum}, not ${show(n, text)}`);
      else if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum)
        err(`must be > ${s.exclusiveMinimum}, not ${show(n, text)}`);
      else if (s.maximum !== undefined && v > s.maximum) err(`must be ≤ ${s.maximum}, not ${show(n, text)}`);
      else if (s.exclusiveMaximum !== undefined && v >= s.exclusiveMaximum)
        err(`must be < ${s.exclusiveMaximum}, not ${show(n, text)}`);
    }
    if (n.kind === 'string' && s.minLength !== undefined && n.value.length < s.minLength) err('must not be empty');
    if (n.kind === 'array') {
      if (s.minItems !== undefined && n.items.length < s.minItems)
        err(`needs at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`);
      if (s.maxItems !== undefined && n.items.length > s.maxItems)
        err(`has ${n.items.length} items; at most ${s.maxItems} are allowed`);
      if (s.items) n.items.forEach((item, i) => this.check(item, s.items!, [...path, i], text, out));
    }
    if (n.kind === 'object') this.checkObject(n, s, path, text, out);
  }

  private checkObject(n: JsonObject, s: Schema, path: PathPart[], text: string, out: Problem[]): void {
    const seen = new Map<string, number>();
    for (const p of n.props) {
      const first = seen.get(p.key);
      if (first !== undefined) {
        const at = lineCol(text, first);
        out.push({
          severity: 'error',
          start: p.keySpan.start,
          end: p.keySpan.end,
          path: pathString([...path, p.key]),
          message: `duplicate property "${p.key}" (first at line ${at.line}, column ${at.col}); keep one`,
        });
      } else seen.set(p.key, p.keySpan.start);
    }
    for (const r of s.required ?? []) {
      if (!seen.has(r)) {
        const d = s.properties?.[r];
        const what = d ? ` (${describeSchema(d, this.root)})` : '';
        out.push({
          severity: 'error',
          start: n.start,
          end: n.start + 1,
          path: pathString(path),
          message: `missing required property "${r}"${what}`,
        });
      }
    }
    const known = Object.keys(s.properties ?? {});
    for (const p of n.props) {
      const ps = s.properties?.[p.key];
      if (ps) this.check(p.value, ps, [...path, p.key], text, out);
      else if (s.additionalProperties === false) {
        out.push({
          severity: 'warning',
          start: p.keySpan.start,
          end: p.keySpan.end,
          path: pathString([...path, p.key]),
          message: `unknown property "${p.key}" is ignored${didYouMean(p.key, known) || `; known properties: ${known.filter((k) => k !== '$schema').join(', ')}`}`,
        });
      }
    }
  }

  /** Whether the value's type fits the branch (ignoring everything else). */
  private accepts(branch: Schema, n: JsonNode): boolean {
    const b = resolve(branch, this.root);
    if (b.anyOf) return b.anyOf.some((x) => this.accepts(x, n));
    if (b.const !== undefined) return n.kind !== 'object' && n.kind !== 'array' && 'value' in n && n.value === b.const;
    if (b.enum)
      return b.enum.some((e) => (n.kind === 'null' ? e === null : 'value' in n && typeof e === typeof n.value));
    if (b.type === undefined) return true;
    const types = Array.isArray(b.type) ? b.type : [b.type];
    return types.some((t) => typeMatches(n, t)) || (types.includes('integer') && n.kind === 'number');
  }

  private discriminatorKey(branches: Schema[]): string | undefined {
    const first = resolve(branches[0]!, this.root);
    return Object.keys(first.properties ?? {}).find((k) =>
      branches.every((b) => resolve(b, this.root).properties?.[k]?.const !== undefined),
    );
  }

  private discriminates(branch: Schema, n: JsonObject): boolean {
    const b = resolve(branch, this.root);
    const key = this.discriminatorKey([branch]);
    if (!key) return false;
    const p = n.props.find((q) => q.key === key);
    return !!p && p.value.kind === 'string' && p.value.value === b.properties![key]!.const;
  }
}
