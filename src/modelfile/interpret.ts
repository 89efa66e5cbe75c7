/**
 * From a model file's text to a typed draft of the model, with every problem located: syntax,
 * schema, then the rules a schema cannot say (loss vs task, classes vs output units, memory).
 * Pure: reads no files. External files (CSV, weights) are resolved by load.ts.
 */
import type { ActivationName } from '../protocol/events';
import { suitedInit } from '../protocol/events';
import { DEFAULT_ALPHA } from '../core/activations';
import type { DType, InitSpec, LayerSpec, LossName, ModelSpec, SyntheticDataSpec, TrainingSpec } from '../core/spec';
import schemaJson from '../../schemas/mlp.schema.json';
import type { JsonNode, JsonObject } from './jsonc';
import { parseJsonc, prop } from './jsonc';
import type { Problem } from './problems';
import type { Schema } from './schema';
import { SchemaValidator } from './schema';
import { estimateMemory, formatBytes } from './memory';
import { initReads } from './init-fields';

const MODEL_SCHEMA = schemaJson as unknown as Schema;
const validator = new SchemaValidator(MODEL_SCHEMA);

export interface CsvDataDraft {
  source: 'csv';
  path: string;
  target: string | number | null;
  header: boolean;
}

/** A model whose external files are not read yet. */
export interface ModelDraft extends Omit<ModelSpec, 'data' | 'weights'> {
  data: SyntheticDataSpec | CsvDataDraft;
  weightsPath: string | null;
  /** Nodes of interest, for locating problems found later (in CSV or weights). */
  nodes: {
    root: JsonObject;
    data?: JsonNode;
    dataPath?: JsonNode;
    target?: JsonNode;
    weights?: JsonNode;
    inputSize?: JsonNode;
    layers?: JsonNode;
  };
}

export interface InterpretOptions {
  /** Refuse models whose estimated memory exceeds this many bytes (default 2 GiB). */
  maxMemoryBytes?: number;
  /** λmax every K steps, where the run overrides the model's diagnostics.sharpnessEvery (its work arrays count). */
  sharpnessEvery?: number;
  /** Default model name (the file name without .mlp.json). */
  defaultName?: string;
}

export const DEFAULT_MAX_MEMORY = 2 * 1024 ** 3;

interface InterpretResult {
  draft: ModelDraft | null;
  problems: Problem[];
  text: string;
}

function get(o: JsonObject | undefined, key: string): JsonNode | undefined {
  return o ? prop(o, key)?.value : undefined;
}
function num(o: JsonObject | undefined, key: string, dflt: number): number {
  const n = get(o, key);
  return n && n.kind === 'number' ? n.value : dflt;
}
function optNum(o: JsonObject | undefined, key: string): number | undefined {
  const n = get(o, key);
  return n && n.kind === 'number' ? n.value : undefined;
}
function str<T extends string>(o: JsonObject | undefined, key: string, dflt: T): T {
  const n = get(o, key);
  return n && n.kind === 'string' ? (n.value as T) : dflt;
}
function bool(o: JsonObject | undefined, key: string, dflt: boolean): boolean {
  const n = get(o, key);
  return n && n.kind === 'boolean' ? n.value : dflt;
}
function obj(n: JsonNode | undefined): JsonObject | undefined {
  return n && n.kind === 'object' ? n : undefined;
}

export function interpretModel(input: string, opts: InterpretOptions = {}): InterpretResult {
  const parsed = parseJsonc(input);
  if (!parsed.ok) {
    return {
      draft: null,
      text: parsed.text,
      problems: [
        {
          severity: 'error',
          start: parsed.error.start,
          end: parsed.error.end,
          path: '',
          message: `invalid JSON: ${parsed.error.message}`,
        },
      ],
    };
  }
  const text = parsed.text;
  const root = parsed.root;
  const problems = validator.validate(root, text);
  if (root.kind !== 'object') return { draft: null, problems, text };
  if (problems.some((p) => p.severity === 'error')) return { draft: null, problems, text };

  const layersNode = get(root, 'layers') as Extract<JsonNode, { kind: 'array' }>;
  const layers: LayerSpec[] = layersNode.items.map((item, i) => interpretLayer(item as JsonObject, i, problems));
  const loss = str<LossName>(root, 'loss', 'cross_entropy');
  const out = layers[layers.length - 1]!;
  const inputSize = num(obj(get(root, 'input')), 'size', 1);
  const err = (n: JsonNode, path: string, message: string, severity: Problem['severity'] = 'error'): void => {
    problems.push({ severity, start: n.start, end: n.end, path, message });
  };

  if (loss === 'cross_entropy' && out.units < 2) {
    const u = get(obj(layersNode.items[layers.length - 1]), 'units')!;
    err(
      u,
      `$.layers[${layers.length - 1}].units`,
      `cross_entropy needs at least 2 output units (one per class), not ${out.units}; use loss "mse" for a single output`,
    );
  }

  const dataNode = obj(get(root, 'data'));
  let data: SyntheticDataSpec | CsvDataDraft;
  if (dataNode && str<string>(dataNode, 'source', 'synthetic') === 'csv') {
    const t = get(dataNode, 'target');
    data = {
      source: 'csv',
      path: str(dataNode, 'path', ''),
      target: t?.kind === 'string' || t?.kind === 'number' ? t.value : null,
      header: bool(dataNode, 'header', true),
    };
  } else {
    const taskNode = get(dataNode, 'task');
    const task = str(dataNode, 'task', loss === 'mse' ? 'regression' : 'classification');
    const classesNode = get(dataNode, 'classes');
    const classes = num(dataNode, 'classes', out.units);
    data = {
      source: 'synthetic',
      samples: num(dataNode, 'samples', 1024),
      inputStd: num(dataNode, 'inputStd', 1),
      task,
      classes,
    };
    if (taskNode && task === 'classification' && loss !== 'cross_entropy')
      err(
        taskNode,
        '$.data.task',
        'classification data needs loss "cross_entropy" (class-index targets); use task "regression" with mse',
      );
    if (taskNode && task === 'regression' && loss !== 'mse')
      err(taskNode, '$.data.task', 'regression data needs loss "mse"; use task "classification" with cross_entropy');
    if (task === 'classification' && classes !== out.units && classesNode)
      err(
        classesNode,
        '$.data.classes',
        `${classes} classes need ${classes} output units, but the output layer has ${out.units}; make them equal`,
      );
  }

  const training = interpretTraining(obj(get(root, 'training')));
  const weightsNode = get(root, 'weights');
  const draft: ModelDraft = {
    name: str(root, 'name', opts.defaultName ?? 'model'),
    seed: num(root, 'seed', 0),
    dtype: str<DType>(root, 'dtype', 'float32'),
    inputSize,
    layers,
    loss,
    training,
    data,
    weightsPath: weightsNode?.kind === 'string' ? weightsNode.value : null,
    diagnostics: {
      histogramsEvery: num(obj(get(root, 'diagnostics')), 'histogramsEvery', 10),
      sharpnessEvery: num(obj(get(root, 'diagnostics')), 'sharpnessEvery', 0),
      validation: num(dataNode, 'validation', 0),
      validationEvery: num(obj(get(root, 'diagnostics')), 'validationEvery', 50),
    },
    nodes: {
      root,
      data: dataNode,
      dataPath: get(dataNode, 'path'),
      target: get(dataNode, 'target'),
      weights: weightsNode,
      inputSize: get(obj(get(root, 'input')), 'size'),
      layers: layersNode,
    },
  };

  if (draft.data.source === 'synthetic') {
    const k = draft.data.task === 'classification' ? draft.data.classes : out.units;
    const work = syntheticWork(draft.data.samples, inputSize, k);
    if (work > MAX_DATA_WORK)
      err(
        get(dataNode, 'samples') ?? dataNode ?? layersNode,
        '$.data.samples',
        `generating the synthetic data takes about ${work.toExponential(1)} multiply-adds (${draft.data.samples.toLocaleString('en-US')} samples × ${TEACHER_UNITS} teacher units × (${inputSize.toLocaleString('en-US')} inputs + ${k.toLocaleString('en-US')} outputs)), over the budget of ${MAX_DATA_WORK.toExponential(0)} (about 20 s); use fewer samples, inputs or classes`,
      );
    const mem = estimateMemory(draft, draft.data.samples, draft.data.task === 'classification' ? 1 : out.units, {
      weightsLoaded: draft.weightsPath !== null,
      sharpnessEvery: opts.sharpnessEvery,
    });
    const limit = opts.maxMemoryBytes ?? DEFAULT_MAX_MEMORY;
    if (mem.total > limit)
      err(
        layersNode,
        '$.layers',
        `this model needs about ${formatBytes(mem.total)} (${mem.detail}), over the limit of ${formatBytes(limit)}; use fewer or narrower layers, a smaller batchSize or fewer samples, or raise the limit (--max-memory-mb / layerwise.maxMemoryMB)`,
      );
  }
  if (problems.some((p) => p.severity === 'error')) return { draft: null, problems, text };
  return { draft, problems, text };
}

/** Units of the synthetic data's teacher network (core/data.ts). */
const TEACHER_UNITS = 32;
/** Multiply-adds the synthetic data may take to generate: about 20 s of JavaScript. */
const MAX_DATA_WORK = 2e10;

/** Multiply-adds of labelling `samples` inputs with the teacher: samples · 32 · (inputs + outputs). */
function syntheticWork(samples: number, inputs: number, outputs: number): number {
  return samples * TEACHER_UNITS * (inputs + outputs);
}

function interpretLayer(n: JsonObject, i: number, problems: Problem[]): LayerSpec {
  const activation = str<ActivationName>(n, 'activation', 'linear');
  const alphaNode = get(n, 'alpha');
  if (alphaNode && activation !== 'leaky_relu' && activation !== 'elu')
    problems.push({
      severity: 'warning',
      start: alphaNode.start,
      end: alphaNode.end,
      path: `$.layers[${i}].alpha`,
      message: `alpha is ignored for ${activation}; it applies to leaky_relu and elu`,
    });
  const initNode = get(n, 'init');
  const defaultScheme = suitedInit(activation);
  let init: InitSpec;
  if (initNode?.kind === 'object') {
    init = {
      scheme: str(initNode, 'scheme', defaultScheme),
      mode: str(initNode, 'mode', 'fan_in'),
      gain: optNum(initNode, 'gain'),
      mean: optNum(initNode, 'mean'),
      std: optNum(initNode, 'std'),
      low: optNum(initNode, 'low'),
      high: optNum(initNode, 'high'),
      value: optNum(initNode, 'value'),
      a: optNum(initNode, 'a'),
      b: optNum(initNode, 'b'),
    };
    for (const p of initNode.props) {
      if (p.key === 'scheme') continue;
      if (!initReads(init.scheme, p.key))
        problems.push({
          severity: 'warning',
          start: p.keySpan.start,
          end: p.keySpan.end,
          path: `$.layers[${i}].init.${p.key}`,
          message: `"${p.key}" is ignored by the ${init.scheme} scheme`,
        });
    }
    if (init.scheme === 'uniform' && (init.low ?? 0) > (init.high ?? 1)) {
      const lo = get(initNode, 'low') ?? initNode;
      problems.push({
        severity: 'error',
        start: lo.start,
        end: lo.end,
        path: `$.layers[${i}].init.low`,
        message: `low (${init.low ?? 0}) must not be above high (${init.high ?? 1})`,
      });
    }
    if (init.scheme === 'trunc_normal') truncNormalProblems(init, initNode, i, problems);
  } else {
    init = {
      scheme: initNode?.kind === 'string' ? (initNode.value as InitSpec['scheme']) : defaultScheme,
      mode: 'fan_in',
    };
  }
  return {
    units: num(n, 'units', 1),
    activation,
    alpha: alphaNode?.kind === 'number' ? alphaNode.value : DEFAULT_ALPHA[activation],
    init,
    bias: num(n, 'bias', 0),
    ...(get(n, 'bias') ? { biasSet: true } : init.scheme === 'pytorch' ? { randomBias: true } : {}),
  };
}

/**
 * A trunc_normal init's cut-offs: a must be below b (torch's uniform_ refuses l > u); and, as
 * PyTorch warns, a mean more than 2 std outside [a, b] leaves most values at or near one end.
 */
function truncNormalProblems(init: InitSpec, node: JsonObject, i: number, problems: Problem[]): void {
  const mean = init.mean ?? 0,
    std = init.std ?? 1,
    a = init.a ?? -2,
    b = init.b ?? 2;
  const at = (key: string): { start: number; end: number } => {
    const n = get(node, key) ?? node;
    return { start: n.start, end: n.end };
  };
  if (!(a < b)) {
    problems.push({
      severity: 'error',
      ...at('a'),
      path: `$.layers[${i}].init.a`,
      message: `a (${a}) must be below b (${b}): they are the cut-offs of the values, W in [a, b]`,
    });
    return;
  }
  if (mean < a - 2 * std || mean > b + 2 * std)
    problems.push({
      severity: 'warning',
      ...at('mean'),
      path: `$.layers[${i}].init.mean`,
      message: `the mean (${mean}) is more than 2 std (${std}) outside [${a}, ${b}]: most values land near ${mean < a ? 'a' : 'b'}; a and b are values of W, not multiples of std`,
    });
}

function interpretTraining(t: JsonObject | undefined): TrainingSpec {
  const clipNode = obj(get(t, 'clip'));
  const bs = get(t, 'batchSize');
  return {
    optimizer: str(t, 'optimizer', 'sgd'),
    learningRate: num(t, 'learningRate', 0.01),
    momentum: num(t, 'momentum', 0.9),
    beta1: num(t, 'beta1', 0.9),
    beta2: num(t, 'beta2', 0.999),
    eps: num(t, 'eps', 1e-8),
    batchSize: bs?.kind === 'string' ? 'full' : bs?.kind === 'number' ? bs.value : 64,
    shuffle: bool(t, 'shuffle', true),
    steps: num(t, 'steps', 100),
    clip: clipNode ? { mode: str(clipNode, 'mode', 'norm'), max: num(clipNode, 'max', 1) } : null,
  };
}
