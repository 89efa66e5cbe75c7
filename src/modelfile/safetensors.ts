/**
 * safetensors files as PyTorch writes them: an 8-byte little-endian header length N, N bytes of
 * JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the
 * data; offsets are relative to the end of the header. F32 and F64 are read as they are; F16 and
 * BF16 are converted exactly. Every structural problem is an error that names the tensor.
 *
 * Layers take the 2-D tensors whose names end in "weight", in natural sort order of their names
 * ("net.2.weight" before "net.10.weight"), each with the 1-D "bias" of the same prefix.
 */
import type { LoadedLayerWeights } from '../core/spec';
import { naturalCompare } from './natural-sort';

interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

const DTYPE_SIZE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2 };
const KNOWN_UNSUPPORTED = ['I8', 'U8', 'I16', 'U16', 'I32', 'U32', 'I64', 'U64', 'BOOL', 'F8_E4M3', 'F8_E5M2'];
/** Largest header accepted (the format's own limit is 100 MB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Most tensors and deepest nesting a header may have (an MLP's has 2 per layer, 3 levels deep). */
export const MAX_HEADER_ENTRIES = 100_000;
export const MAX_HEADER_DEPTH = 16;

/**
 * One pass over the header's bytes before JSON.parse: its nesting depth and the number of values
 * at the top level (tensors). A 100 MB header of 7 million entries, or nested a million deep, would
 * take gigabytes and seconds to parse; these are refused in milliseconds instead.
 */
function scanHeader(b: Uint8Array): { depth: number; entries: number } {
  let depth = 0,
    max = 0,
    entries = 0,
    inString = false;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) max = depth;
      if (max > MAX_HEADER_DEPTH) break;
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x3a && depth === 1) {
      entries++;
      if (entries > MAX_HEADER_ENTRIES) break;
    }
  }
  return { depth: max, entries };
}

type HeaderResult = { ok: true; tensors: TensorInfo[]; dataStart: number } | { ok: false; errors: string[] };

/** Parses and checks the header against the file size. Never allocates by a size read from the file. */
export function readHeader(bytes: Uint8Array): HeaderResult {
  const errors: string[] = [];
  if (bytes.length < 8)
    return {
      ok: false,
      errors: [`the file has ${bytes.length} bytes; a safetensors file starts with an 8-byte header length`],
    };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getUint32(0, true) + dv.getUint32(4, true) * 4294967296;
  if (n > bytes.length - 8)
    return {
      ok: false,
      errors: [
        `the header length says ${n} bytes, longer than the ${bytes.length - 8} bytes after it (not a safetensors file, or truncated)`,
      ],
    };
  if (n > MAX_HEADER_BYTES)
    return { ok: false, errors: [`the header is ${n} bytes; at most ${MAX_HEADER_BYTES} are accepted`] };
  const shape = scanHeader(bytes.subarray(8, 8 + n));
  if (shape.depth > MAX_HEADER_DEPTH)
    return {
      ok: false,
      errors: [`the header is nested more than ${MAX_HEADER_DEPTH} levels deep (not a safetensors file?)`],
    };
  if (shape.entries > MAX_HEADER_ENTRIES)
    return {
      ok: false,
      errors: [
        `the header has more than ${MAX_HEADER_ENTRIES.toLocaleString('en-US')} entries; an MLP's weights have two per layer`,
      ],
    };
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch {
    return { ok: false, errors: ['the header is not valid UTF-8 JSON (not a safetensors file?)'] };
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    return { ok: false, errors: ['the header is not a JSON object'] };
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const tensors: TensorInfo[] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t !== 'object' || t === null) {
      errors.push(`tensor "${name}": entry is not an object`);
      continue;
    }
    if (typeof t.dtype !== 'string') {
      errors.push(`tensor "${name}": missing dtype`);
      continue;
    }
    if (!(t.dtype in DTYPE_SIZE)) {
      errors.push(
        `tensor "${name}": dtype ${t.dtype} is not supported; use F32, F64, F16 or BF16${KNOWN_UNSUPPORTED.includes(t.dtype) ? ' (integer and 8-bit tensors are not parameters)' : ''}`,
      );
      continue;
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      errors.push(`tensor "${name}": shape must be a list of non-negative integers`);
      continue;
    }
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      errors.push(`tensor "${name}": data_offsets must be [begin, end]`);
      continue;
    }
    const [begin, end] = off as [number, number];
    const shape = t.shape as number[];
    let numel = 1;
    for (const d of shape) numel *= d;
    if (end < begin) {
      errors.push(`tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`);
      continue;
    }
    if (end > dataLen) {
      errors.push(`tensor "${name}": data_offsets [${begin}, ${end}] go past the end of the data (${dataLen} bytes)`);
      continue;
    }
    if (end - begin !== numel * DTYPE_SIZE[t.dtype]!) {
      errors.push(
        `tensor "${name}": shape [${shape.join(', ')}] of ${t.dtype} needs ${numel * DTYPE_SIZE[t.dtype]!} bytes, but data_offsets span ${end - begin}`,
      );
      continue;
    }
    tensors.push({ name, dtype: t.dtype, shape, begin, end });
  }
  const byBegin = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byBegin.length; i++) {
    const a = byBegin[i - 1]!,
      b = byBegin[i]!;
    if (b.begin < a.end && b.end > b.begin && a.end > a.begin)
      errors.push(`tensors "${a.name}" and "${b.name}" overlap (bytes ${b.begin}–${Math.min(a.end, b.end)})`);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, tensors, dataStart };
}

/** Decodes one tensor's data to float64 values. */
export function tensorValues(bytes: Uint8Array, dataStart: number, t: TensorInfo): Float64Array {
  const n = (t.end - t.begin) / DTYPE_SIZE[t.dtype]!;
  const out = new Float64Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + dataStart + t.begin, t.end - t.begin);
  switch (t.dtype) {
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
      break;
    case 'BF16': {
      const f = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) {
        f.setUint32(0, dv.getUint16(i * 2, true) << 16, false);
        out[i] = f.getFloat32(0, false);
      }
      break;
    }
  }
  return out;
}

/** IEEE 754 binary16 to a number, exactly. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1,
    e = (h >> 10) & 0x1f,
    m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Maps the tensors to layers with the expected shapes ([units, fanIn] weights, [units] biases).
 * Returns the per-layer values or every mismatch found.
 */
export function layerWeights(
  bytes: Uint8Array,
  layers: readonly { units: number }[],
  inputSize: number,
): { ok: true; weights: LoadedLayerWeights[] } | { ok: false; errors: string[] } {
  const h = readHeader(bytes);
  if (!h.ok) return h;
  const errors: string[] = [];
  const byName = new Map(h.tensors.map((t) => [t.name, t]));
  const weightTensors = h.tensors
    .filter((t) => t.name.endsWith('weight'))
    .sort((a, b) => naturalCompare(a.name, b.name));
  const used = new Set<string>();
  for (const t of weightTensors) {
    if (t.shape.length !== 2)
      errors.push(`tensor "${t.name}" has shape [${t.shape.join(', ')}]; layer weights must be 2-D [units, fan_in]`);
  }
  const w2 = weightTensors.filter((t) => t.shape.length === 2);
  if (w2.length !== layers.length) {
    errors.push(
      `the file has ${w2.length} 2-D weight tensor${w2.length === 1 ? '' : 's'} (${w2.map((t) => t.name).join(', ') || 'none'}), but the model has ${layers.length} layer${layers.length === 1 ? '' : 's'}`,
    );
  }
  const out: LoadedLayerWeights[] = [];
  let fanIn = inputSize;
  layers.forEach((l, i) => {
    const wt = w2[i];
    if (!wt) {
      fanIn = l.units;
      return;
    }
    used.add(wt.name);
    if (wt.shape[0] !== l.units || wt.shape[1] !== fanIn)
      errors.push(
        `tensor "${wt.name}" (layer ${i}) has shape [${wt.shape.join(', ')}], expected [${l.units}, ${fanIn}] ([units, fan_in])`,
      );
    const biasName = wt.name.slice(0, -'weight'.length) + 'bias';
    const bt = byName.get(biasName);
    if (!bt) errors.push(`tensor "${biasName}" (bias of layer ${i}) is missing; every "*weight" needs its "*bias"`);
    else {
      used.add(bt.name);
      if (bt.shape.length !== 1 || bt.shape[0] !== l.units)
        errors.push(`tensor "${bt.name}" (layer ${i}) has shape [${bt.shape.join(', ')}], expected [${l.units}]`);
    }
    if (errors.length === 0 && bt) {
      out.push({
        weight: tensorValues(bytes, h.dataStart, wt),
        bias: tensorValues(bytes, h.dataStart, bt),
        weightName: wt.name,
        biasName: bt.name,
      });
    }
    fanIn = l.units;
  });
  const left = h.tensors.filter((t) => !used.has(t.name) && !(t.name.endsWith('weight') && t.shape.length !== 2));
  if (left.length > 0)
    errors.push(
      `tensor${left.length === 1 ? '' : 's'} ${left.map((t) => `"${t.name}"`).join(', ')} ${left.length === 1 ? 'is' : 'are'} left over: not a layer's weight or bias`,
    );
  if (errors.length > 0) return { ok: false, errors };
  for (const [i, w] of out.entries()) {
    const bad = [w.weight, w.bias].find((a) => a.some((v) => !Number.isFinite(v)));
    if (bad)
      errors.push(`tensor "${bad === w.weight ? w.weightName : w.biasName}" (layer ${i}) holds NaN or Inf values`);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, weights: out };
}
