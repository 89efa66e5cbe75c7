/**
 * Loads a model file and the files it points at (CSV data, safetensors weights) into a ModelSpec,
 * or returns every problem found, each located in the file it belongs to. Paths are relative to
 * the model file. Sizes are checked before reading; nothing in the files is executed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelSpec } from '../core/spec';
import type { JsonNode } from './jsonc';
import { parseCsv } from './csv';
import type { InterpretOptions, ModelDraft } from './interpret';
import { DEFAULT_MAX_MEMORY, interpretModel } from './interpret';
import { estimateMemory, formatBytes } from './memory';
import type { Problem } from './problems';
import { layerWeights } from './safetensors';

interface LoadOptions extends InterpretOptions {
  /** Largest model file read (default 8 MiB). */
  maxModelBytes?: number;
  /** Largest CSV or safetensors file read (default 1 GiB). */
  maxDataBytes?: number;
  /**
   * When set (an untrusted workspace), data and weight paths must stay inside this folder.
   */
  confineTo?: string;
  /** Asked while a long CSV is read: true stops the loading (core/data.Stopped is thrown). */
  shouldStop?: () => boolean;
}

interface LoadResult {
  file: string;
  /** The model file's text (after a BOM), when it could be read. */
  text: string | null;
  spec: ModelSpec | null;
  problems: Problem[];
}

const DEFAULT_MAX_MODEL_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_DATA_BYTES = 1024 * 1024 * 1024;

function defaultModelName(file: string): string {
  return path.basename(file).replace(/\.mlp\.jsonc?$|\.jsonc?$/i, '') || 'model';
}

function fileProblem(message: string): Problem {
  return { severity: 'error', start: 0, end: 0, path: '', message, line: 1, col: 1 };
}

/** Decodes UTF-8 text, refusing binary files. */
function decodeText(buf: Uint8Array): string | null {
  if (buf.indexOf(0) >= 0) return null;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    return null;
  }
}

/** Reads a model file from disk and loads it. */
export function loadModelFile(file: string, opts: LoadOptions = {}): LoadResult {
  const max = opts.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    return { file, text: null, spec: null, problems: [fileProblem(`cannot read the model file: ${ioReason(e)}`)] };
  }
  if (st.isDirectory())
    return { file, text: null, spec: null, problems: [fileProblem('is a directory; give a *.mlp.json file')] };
  if (!st.isFile())
    return {
      file,
      text: null,
      spec: null,
      problems: [fileProblem('is not a regular file (a device or pipe?); give a *.mlp.json file')],
    };
  if (st.size > max)
    return {
      file,
      text: null,
      spec: null,
      problems: [
        fileProblem(
          `the model file is ${formatBytes(st.size)}; model files over ${formatBytes(max)} are refused (data belongs in a CSV, weights in safetensors)`,
        ),
      ],
    };
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    return { file, text: null, spec: null, problems: [fileProblem(`cannot read the model file: ${ioReason(e)}`)] };
  }
  const text = decodeText(buf);
  if (text === null)
    return {
      file,
      text: null,
      spec: null,
      problems: [fileProblem('is not UTF-8 text (a binary file?); a model file is JSON with comments')],
    };
  return loadModelText(file, text, opts);
}

/** Loads a model from its text (e.g. an unsaved editor buffer); `file` locates relative paths. */
export function loadModelText(file: string, source: string, opts: LoadOptions = {}): LoadResult {
  const r = interpretModel(source, { ...opts, defaultName: opts.defaultName ?? defaultModelName(file) });
  const problems = [...r.problems];
  if (!r.draft) return { file, text: r.text, spec: null, problems };
  const draft = r.draft;
  const at = (n: JsonNode | undefined, p: string, message: string): void => {
    const node = n ?? draft.nodes.root;
    problems.push({ severity: 'error', start: node.start, end: node.end, path: p, message });
  };
  const dir = path.dirname(path.resolve(file));
  const resolveRef = (rel: string, node: JsonNode | undefined, p: string, what: string): string | null => {
    const abs = path.resolve(dir, rel);
    if (abs === path.resolve(file)) {
      at(node, p, `points at this model file itself; give the ${what} file`);
      return null;
    }
    if (opts.confineTo && !inside(opts.confineTo, abs)) {
      at(
        node,
        p,
        `"${rel}" is outside the workspace folder${isLink(abs) ? ' (through a symbolic link)' : ''}; in an untrusted workspace Layerwise reads only files inside it (trust the workspace to allow it)`,
      );
      return null;
    }
    let st: fs.Stats;
    try {
      st = fs.statSync(abs);
    } catch (e) {
      at(node, p, `cannot read the ${what} file "${rel}": ${ioReason(e)}`);
      return null;
    }
    if (st.isDirectory()) {
      at(node, p, `"${rel}" is a directory; give the ${what} file`);
      return null;
    }
    if (!st.isFile()) {
      at(node, p, `"${rel}" is not a regular file (a device or pipe?); give the ${what} file`);
      return null;
    }
    const maxData = opts.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES;
    if (st.size > maxData) {
      at(
        node,
        p,
        `the ${what} file "${rel}" is ${formatBytes(st.size)}; files over ${formatBytes(maxData)} are refused`,
      );
      return null;
    }
    return abs;
  };

  let data: ModelSpec['data'] | null = null;
  if (draft.data.source === 'synthetic') data = draft.data;
  else {
    const d = draft.data;
    const abs = resolveRef(d.path, draft.nodes.dataPath, '$.data.path', 'CSV');
    let buf: Buffer | null = null;
    if (abs) {
      // reading holds the file and its text (about 3× its size): refused before reading when over the limit
      const limit = opts.maxMemoryBytes ?? DEFAULT_MAX_MEMORY;
      let size = 0;
      try {
        size = fs.statSync(abs).size;
      } catch {
        /* read below says why */
      }
      if (3 * size > limit)
        at(
          draft.nodes.dataPath,
          '$.data.path',
          `reading "${d.path}" (${formatBytes(size)}) needs about ${formatBytes(3 * size)}, over the limit of ${formatBytes(limit)}; use a smaller CSV, or raise the limit (--max-memory-mb / layerwise.maxMemoryMB)`,
        );
      else {
        try {
          buf = fs.readFileSync(abs);
        } catch (e) {
          at(draft.nodes.dataPath, '$.data.path', `cannot read the CSV file "${d.path}": ${ioReason(e)}`);
        }
      }
    }
    const long = buf ? overlongLine(buf, MAX_CSV_LINE_BYTES) : null;
    if (!abs || !buf) {
      /* refused or unreadable: said above */
    } else if (long) {
      problems.push({
        severity: 'error',
        start: 0,
        end: 0,
        path: '',
        file: displayPath(abs),
        line: long.line,
        col: 1,
        message: `line ${long.line} is ${formatBytes(long.bytes)} long; CSV lines over ${formatBytes(MAX_CSV_LINE_BYTES)} are refused (is this a CSV file?)`,
      });
    } else {
      const text = decodeText(buf);
      if (text === null) at(draft.nodes.dataPath, '$.data.path', `"${d.path}" is not UTF-8 text; give a CSV file`);
      else {
        const out = draft.layers[draft.layers.length - 1]!.units;
        if (draft.loss === 'mse' && out !== 1)
          at(
            draft.nodes.layers,
            '$.layers',
            `a CSV target is one column, so mse needs 1 output unit, but the output layer has ${out}`,
          );
        else {
          const res = parseCsv(text, {
            header: d.header,
            target: d.target,
            task: draft.loss === 'cross_entropy' ? 'classification' : 'regression',
            classes: out,
            inputSize: draft.inputSize,
            shouldStop: opts.shouldStop,
          });
          if (res.ok) data = { source: 'csv', dataset: res.dataset };
          else {
            for (const p of res.problems) {
              if (p.modelField === 'target') at(draft.nodes.target ?? draft.nodes.data, '$.data.target', p.message);
              else if (p.modelField === 'inputSize') at(draft.nodes.inputSize, '$.input.size', p.message);
              else
                problems.push({
                  severity: 'error',
                  start: 0,
                  end: 0,
                  path: '',
                  message: p.message,
                  file: displayPath(abs),
                  line: p.line,
                  col: p.col,
                });
            }
          }
        }
      }
    }
    if (data && data.source === 'csv') checkMemory(draft, data.dataset.samples, problems, opts, buf?.length ?? 0);
  }

  let weights: ModelSpec['weights'] = null;
  if (draft.weightsPath !== null) {
    const abs = resolveRef(draft.weightsPath, draft.nodes.weights, '$.weights', 'safetensors');
    if (abs) {
      let bytes: Uint8Array | null = null;
      try {
        bytes = fs.readFileSync(abs);
      } catch (e) {
        at(draft.nodes.weights, '$.weights', `cannot read "${draft.weightsPath}": ${ioReason(e)}`);
      }
      if (bytes) {
        const w = layerWeights(bytes, draft.layers, draft.inputSize);
        if (w.ok) weights = w.weights;
        else for (const e of w.errors) at(draft.nodes.weights, '$.weights', `${draft.weightsPath}: ${e}`);
      }
    }
  }
  if (problems.some((p) => p.severity === 'error') || data === null)
    return { file, text: r.text, spec: null, problems };
  const { nodes: _nodes, weightsPath: _wp, data: _d, ...rest } = draft;
  return { file, text: r.text, spec: { ...rest, data, weights }, problems };
}

/**
 * Whether `abs` lies inside `root`, by the paths as written and by the real paths (symbolic links
 * resolved, the file's and every folder's on the way): a link inside the workspace that points
 * out of it is outside. A path that does not exist yet is judged by its nearest existing folder.
 */
function inside(root: string, abs: string): boolean {
  const within = (r: string, p: string): boolean => {
    const rel = path.relative(r, p);
    return !(rel.startsWith('..') || path.isAbsolute(rel));
  };
  if (!within(path.resolve(root), abs)) return false;
  let realRoot: string;
  try {
    realRoot = fs.realpathSync(root);
  } catch {
    return false;
  }
  let p = abs,
    rest = '';
  for (;;) {
    try {
      return within(realRoot, path.join(fs.realpathSync(p), rest));
    } catch {
      const parent = path.dirname(p);
      if (parent === p) return false;
      rest = path.join(path.basename(p), rest);
      p = parent;
    }
  }
}

function isLink(abs: string): boolean {
  try {
    return fs.realpathSync(abs) !== abs;
  } catch {
    return false;
  }
}

function checkMemory(
  draft: ModelDraft,
  samples: number,
  problems: Problem[],
  opts: LoadOptions,
  csvBytes: number,
): void {
  const mem = estimateMemory(draft, samples, 1, {
    weightsLoaded: draft.weightsPath !== null,
    csvBytes,
    sharpnessEvery: opts.sharpnessEvery,
  });
  const limit = opts.maxMemoryBytes ?? DEFAULT_MAX_MEMORY;
  const n = draft.nodes.layers ?? draft.nodes.root;
  if (mem.total > limit)
    problems.push({
      severity: 'error',
      start: n.start,
      end: n.end,
      path: '$.layers',
      message: `this model needs about ${formatBytes(mem.total)} (${mem.detail}), over the limit of ${formatBytes(limit)}`,
    });
}

/** Longest CSV line accepted: far beyond any table of numbers, far below what exhausts the heap. */
export const MAX_CSV_LINE_BYTES = 16 * 1024 * 1024;

/** The first line longer than `max` bytes (1-based line number and its length), or null. */
export function overlongLine(buf: Uint8Array, max: number): { line: number; bytes: number } | null {
  let start = 0,
    line = 1;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    const end = nl < 0 ? buf.length : nl;
    if (end - start > max) return { line, bytes: end - start };
    if (nl < 0) return null;
    start = nl + 1;
    line++;
  }
}

function displayPath(abs: string): string {
  const rel = path.relative(process.cwd(), abs);
  return rel && !rel.startsWith('..') ? rel : abs;
}

function ioReason(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'ELOOP') return 'too many symbolic links';
  return code ?? String((e as Error).message ?? e);
}
