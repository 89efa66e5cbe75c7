/**
 * Reads one event of the schema (events.ts) from untrusted JSON: a line of a training log written
 * by another process (the layerwise_torch package, or `layerwise run --json`). Returns the event,
 * or a short reason why the value is not one. Statistics written as `null` (the stream's spelling
 * of NaN and ±Inf) become NaN, so that every consumer sees numbers; `dead` and `saturated` keep
 * their own null ("not a ReLU / tanh layer").
 */
import type {
  Histogram,
  HistogramEvent,
  LayerInfo,
  LayerModule,
  LayerStepStats,
  LayerwiseEvent,
  MeanVar,
  StartEvent,
  StepEvent,
} from './events';
import { ACTIVATIONS, EVENT_TYPES } from './events';

type Obj = Record<string, unknown>;

class Bad extends Error {}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function obj(v: unknown, what: string): Obj {
  if (!isObj(v)) throw new Bad(`${what} is not an object`);
  return v;
}

/** A statistic: a number, or null for a non-finite one (NaN). */
function stat(o: Obj, key: string, what: string): number {
  const v = o[key];
  if (v === null) return NaN;
  if (typeof v !== 'number') throw new Bad(`${what}.${key} is not a number`);
  return v;
}

function count(o: Obj, key: string, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max)
    throw new Bad(`${what}.${key} is not a whole number ≥ 0`);
  return v;
}

function meanVar(v: unknown, what: string): MeanVar {
  const o = obj(v, what);
  return { mean: stat(o, 'mean', what), var: stat(o, 'var', what) };
}

function nullableCount(o: Obj, key: string, what: string): number | null {
  return o[key] === null || o[key] === undefined ? null : count(o, key, what);
}

function layerStats(v: unknown, i: number): LayerStepStats {
  const what = `layers[${i}]`;
  const o = obj(v, what);
  const wg = obj(o.weightGrad, `${what}.weightGrad`);
  const bg = obj(o.biasGrad, `${what}.biasGrad`);
  const sat = o.saturated;
  if (sat !== undefined && sat !== null && typeof sat !== 'number') throw new Bad(`${what}.saturated is not a number`);
  const out: LayerStepStats = {
    index: count(o, 'index', what, 1e6),
    preact: meanVar(o.preact, `${what}.preact`),
    act: meanVar(o.act, `${what}.act`),
    grad: o.grad === undefined ? { mean: NaN, var: NaN } : meanVar(o.grad, `${what}.grad`),
    dead: nullableCount(o, 'dead', what),
    weight: meanVar(o.weight, `${what}.weight`),
    weightGrad: { norm: stat(wg, 'norm', `${what}.weightGrad`), var: stat(wg, 'var', `${what}.weightGrad`) },
    biasGrad: { norm: stat(bg, 'norm', `${what}.biasGrad`) },
    updateRatio: stat(o, 'updateRatio', what),
  };
  if (sat !== undefined) out.saturated = sat as number | null;
  if (o.rows !== undefined) out.rows = count(o, 'rows', what);
  return out;
}

function step(o: Obj): StepEvent {
  if (!Array.isArray(o.layers)) throw new Bad('layers is not a list');
  if (typeof o.clipped !== 'boolean') throw new Bad('clipped is not true or false');
  const e: StepEvent = {
    type: 'step',
    step: count(o, 'step', 'step'),
    loss: stat(o, 'loss', 'step'),
    gradNorm: stat(o, 'gradNorm', 'step'),
    gradNormClipped: stat(o, 'gradNormClipped', 'step'),
    clipped: o.clipped,
    layers: o.layers.map(layerStats),
  };
  if (o.inputVar !== undefined) e.inputVar = stat(o, 'inputVar', 'step');
  if (o.samples !== undefined) e.samples = count(o, 'samples', 'step');
  return e;
}

function layerInfo(v: unknown, i: number): LayerInfo {
  const what = `layers[${i}]`;
  const o = obj(v, what);
  if (typeof o.activation !== 'string' || !(ACTIVATIONS as readonly string[]).includes(o.activation))
    throw new Bad(`${what}.activation is not one of ${ACTIVATIONS.join(', ')}`);
  const info: LayerInfo = {
    index: count(o, 'index', what, 1e6),
    units: count(o, 'units', what),
    activation: o.activation as LayerInfo['activation'],
    init: typeof o.init === 'string' ? o.init : 'unknown',
    fanIn: count(o, 'fanIn', what),
    fanOut: count(o, 'fanOut', what),
  };
  if (typeof o.alpha === 'number') info.alpha = o.alpha;
  return info;
}

function start(o: Obj): StartEvent {
  if (!Array.isArray(o.layers) || o.layers.length === 0) throw new Bad('layers is not a non-empty list');
  if (o.layers.length > 100000) throw new Bad('too many layers');
  const e: StartEvent = {
    type: 'start',
    model: typeof o.model === 'string' ? o.model.slice(0, 200) : 'model',
    parameters: typeof o.parameters === 'number' ? o.parameters : 0,
    steps: typeof o.steps === 'number' ? o.steps : 0,
    layers: o.layers.map(layerInfo),
  };
  if (isObj(o.clip) && (o.clip.mode === 'norm' || o.clip.mode === 'value') && typeof o.clip.max === 'number')
    e.clip = { mode: o.clip.mode, max: o.clip.max };
  else e.clip = null;
  if (typeof o.threads === 'number') e.threads = o.threads;
  if (typeof o.kernels === 'string' && o.kernels.length <= 64) e.kernels = o.kernels;
  if (o.source === 'pytorch' || o.source === 'layerwise') e.source = o.source;
  if (typeof o.worldSize === 'number' && Number.isSafeInteger(o.worldSize) && o.worldSize >= 1)
    e.worldSize = o.worldSize;
  // names of the layers' modules: one per layer, or none (a list that does not fit is left out)
  if (Array.isArray(o.modules) && o.modules.length === e.layers.length && o.modules.every(isObj)) {
    const modules = (o.modules as Obj[]).map(layerModule);
    if (modules.every((m) => m !== null)) e.modules = modules;
  }
  return e;
}

function layerModule(o: Obj): LayerModule | null {
  if (typeof o.name !== 'string') return null;
  const m: LayerModule = { name: o.name.slice(0, 200) };
  if (
    typeof o.file === 'string' &&
    o.file.length <= 4096 &&
    typeof o.line === 'number' &&
    Number.isSafeInteger(o.line) &&
    o.line >= 1
  ) {
    m.file = o.file;
    m.line = o.line;
  }
  return m;
}

/** The event in `value`, or the reason it is not one. */
function numbers(v: unknown, what: string, n: number, each: (x: unknown) => boolean): number[] {
  if (!Array.isArray(v) || (v.length !== 0 && v.length !== n) || !v.every(each))
    throw new Bad(`${what} is not ${n} numbers`);
  return v as number[];
}

function hist(v: unknown, what: string): Histogram {
  const o = obj(v, what);
  const counts = numbers(
    o.counts,
    `${what}.counts`,
    32,
    (x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0,
  );
  const edges = numbers(o.edges, `${what}.edges`, 33, (x) => typeof x === 'number' && Number.isFinite(x));
  if ((edges.length === 0) !== (counts.length === 0)) throw new Bad(`${what}: edges and counts disagree`);
  return {
    edges,
    counts,
    zeros: count(o, 'zeros', what),
    below: count(o, 'below', what),
    above: count(o, 'above', what),
    nonFinite: count(o, 'nonFinite', what),
  };
}

function histogramEvent(o: Obj): HistogramEvent {
  if (!Array.isArray(o.layers) || o.layers.length > 100_000) throw new Bad('histogram.layers is not an array');
  return {
    type: 'histogram',
    step: count(o, 'step', 'histogram'),
    layers: o.layers.map((v: unknown, i: number) => {
      const what = `layers[${i}]`;
      const l = obj(v, what);
      return {
        index: count(l, 'index', what, 1e6),
        preact: hist(l.preact, `${what}.preact`),
        act: hist(l.act, `${what}.act`),
        grad: hist(l.grad, `${what}.grad`),
      };
    }),
  };
}

function parseEvent(value: unknown): LayerwiseEvent | { error: string } {
  try {
    const o = obj(value, 'the line');
    if (typeof o.type !== 'string' || !(EVENT_TYPES as readonly string[]).includes(o.type))
      return { error: `"type" is not one of ${EVENT_TYPES.join(', ')}` };
    switch (o.type) {
      case 'start':
        return start(o);
      case 'step':
        return step(o);
      case 'histogram':
        return histogramEvent(o);
      case 'sharpness': {
        const th = o.threshold;
        if (th !== null && th !== undefined && typeof th !== 'number')
          return { error: 'sharpness.threshold is not a number' };
        return {
          type: 'sharpness',
          step: count(o, 'step', 'sharpness'),
          lambdaMax: stat(o, 'lambdaMax', 'sharpness'),
          threshold: typeof th === 'number' ? th : null,
          iterations: count(o, 'iterations', 'sharpness'),
          ...(typeof o.momentum === 'number' && o.momentum >= 0 && o.momentum < 1 ? { momentum: o.momentum } : {}),
          ...(typeof o.weightDecay === 'number' && o.weightDecay > 0 && Number.isFinite(o.weightDecay)
            ? { weightDecay: o.weightDecay }
            : {}),
          ...(o.nesterov === true ? { nesterov: true as const } : {}),
          ...(typeof o.dampening === 'number' && o.dampening > 0 && o.dampening < 1 ? { dampening: o.dampening } : {}),
        };
      }
      case 'validation': {
        const acc = o.accuracy;
        if (acc !== null && acc !== undefined && (typeof acc !== 'number' || !(acc >= 0 && acc <= 1)))
          return { error: 'validation.accuracy is not a number in [0, 1]' };
        return {
          type: 'validation',
          step: count(o, 'step', 'validation'),
          loss: stat(o, 'loss', 'validation'),
          accuracy: typeof acc === 'number' ? acc : null,
          samples: count(o, 'samples', 'validation'),
        };
      }
      case 'end': {
        const reason =
          o.reason === 'completed' || o.reason === 'non_finite' || o.reason === 'stopped' ? o.reason : null;
        if (!reason) return { error: 'end.reason is not completed, non_finite or stopped' };
        const end: LayerwiseEvent = {
          type: 'end',
          steps: count(o, 'steps', 'end'),
          reason,
          elapsedMs: typeof o.elapsedMs === 'number' ? o.elapsedMs : 0,
        };
        if (typeof o.clippedSteps === 'number' && Number.isSafeInteger(o.clippedSteps) && o.clippedSteps >= 0)
          end.clippedSteps = o.clippedSteps;
        if (typeof o.splitSteps === 'number' && Number.isSafeInteger(o.splitSteps) && o.splitSteps >= 0)
          end.splitSteps = o.splitSteps;
        return end;
      }
      case 'warning': {
        if (typeof o.code !== 'string' || typeof o.message !== 'string')
          return { error: 'a warning needs a code and a message' };
        const sev =
          o.severity === 'info' || o.severity === 'warning' || o.severity === 'error' ? o.severity : 'warning';
        const layer = typeof o.layer === 'number' && Number.isSafeInteger(o.layer) ? o.layer : null;
        const stepK = typeof o.step === 'number' && Number.isSafeInteger(o.step) ? o.step : null;
        return {
          type: 'warning',
          code: o.code as never,
          severity: sev,
          layer,
          step: stepK,
          message: o.message.slice(0, 2000),
          fix: typeof o.fix === 'string' ? o.fix.slice(0, 2000) : '',
        };
      }
      default:
        return value as LayerwiseEvent; // analysis: drawn as it is
    }
  } catch (e) {
    if (e instanceof Bad) return { error: e.message };
    throw e;
  }
}

/** A line of a log: its event, or why it is not one (invalid JSON included). */
export function parseEventLine(line: string): LayerwiseEvent | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { error: 'not valid JSON' };
  }
  return parseEvent(v);
}
