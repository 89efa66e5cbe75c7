/** The extension's settings (`layerwise.*`), read fresh each time. */
import * as path from 'node:path';
import { availableParallelism } from 'node:os';
import * as vscode from 'vscode';

interface Settings {
  analyzeDelayMs: number;
  defaultSteps: number;
  updatesPerSecond: number;
  maxMemoryMB: number;
  codeLens: boolean;
  /** Threads of a training run: 'auto' is 2 with 4 or more cores (the editor keeps a core), else 1. */
  threads: number;
  /** `auto`: the split runs only while it pays (measured). */
  adaptiveSplit: boolean;
  /** `auto`: the native kernels where the package has them and the CPU runs them; `wasm`: WebAssembly. */
  kernels: 'auto' | 'wasm';
  thresholds: Record<string, number>;
}

const THRESHOLD_KEYS = [
  'vanishingForward',
  'explodingForward',
  'vanishingGradient',
  'explodingGradient',
  'deadFraction',
  'saturatedFraction',
  'clipRate',
  'updateRatioHigh',
  'updateRatioLow',
  'overfitting',
];

export function settings(): Settings {
  const c = vscode.workspace.getConfiguration('layerwise');
  const thresholds: Record<string, number> = {};
  for (const k of THRESHOLD_KEYS) {
    const v = c.get<number>(`thresholds.${k}`);
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) thresholds[k] = v;
  }
  const num = (k: string, d: number, lo: number, hi: number): number => {
    const v = c.get<number>(k);
    return typeof v === 'number' && Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : d;
  };
  return {
    analyzeDelayMs: num('analyzeDelayMs', 300, 0, 5000),
    defaultSteps: num('defaultSteps', 0, 0, 1e8),
    updatesPerSecond: num('updatesPerSecond', 30, 1, 60),
    maxMemoryMB: num('maxMemoryMB', 2048, 16, 65536),
    codeLens: c.get<boolean>('codeLens', true),
    threads: threadsSetting(c.get<string>('threads', 'auto')),
    adaptiveSplit: c.get<string>('threads', 'auto') === 'auto',
    kernels: c.get<string>('kernels', 'auto') === 'wasm' ? 'wasm' : 'auto',
    thresholds,
  };
}

function threadsSetting(v: string | undefined): number {
  if (v === '1') return 1;
  if (v === '2') return 2;
  return availableParallelism() >= 4 ? 2 : 1;
}

export function isModelDocument(doc: vscode.TextDocument | undefined): doc is vscode.TextDocument {
  return (
    !!doc &&
    /\.mlp\.json$/i.test(doc.uri.path) &&
    (doc.uri.scheme === 'file' || doc.uri.scheme === 'vscode-remote' || doc.uri.scheme === 'untitled')
  );
}

/** In an untrusted workspace: the folder the model's referenced files must stay in. */
export function confinement(doc: vscode.TextDocument): string | undefined {
  if (vscode.workspace.isTrusted) return undefined;
  return vscode.workspace.getWorkspaceFolder(doc.uri)?.uri.fsPath ?? path.dirname(doc.uri.fsPath);
}
