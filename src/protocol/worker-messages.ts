/**
 * Messages between a host (the CLI or the extension host) and the training worker.
 * The worker's payload is always events of the one schema (events.ts), or located problems.
 */
import type { LayerwiseEvent } from './events';

/** Event batches the worker may have posted and the host not yet consumed before it waits (back-pressure). */
export const MAX_IN_FLIGHT = 8;

export interface RunRequest {
  type: 'run';
  mode: 'run' | 'analyze';
  /** The model file; relative paths inside it resolve against its folder. */
  file: string;
  /** The model text, when it differs from the file on disk (an unsaved editor). */
  text?: string;
  steps?: number;
  every?: number;
  /** Histogram events every K steps (0: none); default the model file's. */
  histogramsEvery?: number;
  /** λmax every K steps (0: none); default the model file's. */
  sharpnessEvery?: number;
  seed?: number;
  /** Also emit the last step's event when `every` would skip it (human output). */
  emitLast?: boolean;
  thresholds?: Record<string, number>;
  maxMemoryBytes?: number;
  /** Untrusted workspace: referenced files must stay inside this folder. */
  confineTo?: string;
  /** Int32Array over it: [0] is set to 1 to ask the worker to stop; [1] counts event batches posted and not yet consumed. */
  stopFlag: SharedArrayBuffer;
  /** run: emit the mean-field analysis (predictions only) before training, for the panel. */
  withAnalysis?: boolean;
  /** Compare Initializations: every layer takes this init scheme instead of its own. */
  initOverride?: string;
  /**
   * 'auto' (default): the fastest (native products where built and supported, else WebAssembly);
   * 'wasm': WebAssembly SIMD; 'simd': without fused multiply-add; 'ts': the pure-TS kernels.
   */
  kernels?: 'auto' | 'wasm' | 'simd' | 'ts';
  /** 2: split each step's batch over a second thread where it pays (core/parallel.ts). Default 1. */
  threads?: number;
  /** With 2 threads: split only while it is measured to pay (`auto`); else every step that can be. */
  adaptiveSplit?: boolean;
  /** With 2 threads: split only steps of at least this many flops (default: SPLIT_MIN_FLOPS, core/model-setup.ts). */
  splitMinFlops?: number;
  /**
   * The host takes step and histogram events at about these rates, in rows (one and one per
   * layer) a second and at once: the worker thins the rest (spikes, non-finite losses and the
   * latest step kept) and posts the exact tally of every step beside them. Absent: every event.
   */
  postRates?: { stepRows: number; stepBurst: number; histogramRows: number; histogramBurst: number };
}

/** A located problem, formatted and structured. */
export interface ProblemMessage {
  severity: 'error' | 'warning';
  /** "FILE:LINE:COL: error: PATH MESSAGE" */
  text: string;
  file: string;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  path: string;
  message: string;
}

export type WorkerMessage =
  /** `tally`: with `postRates`, every step up to the last posted, and how many of them clipped. */
  | { type: 'events'; events: LayerwiseEvent[]; tally?: { steps: number; clipped: number } }
  | { type: 'problems'; problems: ProblemMessage[] }
  | { type: 'done'; outcome: 'completed' | 'invalid' | 'non_finite' | 'stopped' }
  | { type: 'crash'; message: string };
