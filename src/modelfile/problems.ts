/**
 * Located problems in input files, and how they are printed:
 * `FILE:LINE:COL: error: <json path> <what is wrong and what is allowed>`.
 */
import type { ProblemMessage } from '../protocol/worker-messages';
import { lineCol } from './jsonc';

export type PathPart = string | number;

export interface Problem {
  severity: 'error' | 'warning';
  /** Offsets into the file's text (after a BOM). */
  start: number;
  end: number;
  /** JSON path of the offending value ("$.layers[1].activation"), or "" for non-JSON files. */
  path: string;
  message: string;
  /** The file the offsets refer to, when it is not the model file itself (a CSV). */
  file?: string;
  /** Precomputed 1-based position (for problems in files whose text is not kept). */
  line?: number;
  col?: number;
}

/** "$", "$.layers[1].init.scheme", "$['odd key']". */
export function pathString(parts: readonly PathPart[]): string {
  let s = '$';
  for (const p of parts) {
    if (typeof p === 'number') s += `[${p}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(p)) s += `.${p}`;
    else s += `[${JSON.stringify(p)}]`;
  }
  return s;
}

/** Levenshtein distance, capped early for long strings. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(
        prev[j]! + 1,
        prev[j - 1]! + 1,
        diag + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1),
      );
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** ` (did you mean "relu"?)`, or "" when nothing is close. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  if (word.length > 64) return '';
  let best = '',
    bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.max(2, Math.floor(word.length / 3));
  return best && bestD <= limit ? ` (did you mean "${best}"?)` : '';
}

/** One line per problem: FILE:LINE:COL: error: PATH MESSAGE. */
function formatProblem(file: string, text: string | null, p: Problem): string {
  const pos =
    p.line !== undefined
      ? { line: p.line, col: p.col ?? 1 }
      : text !== null
        ? lineCol(text, p.start)
        : { line: 1, col: 1 };
  const where = p.path ? `${p.path} ` : '';
  return `${p.file ?? file}:${pos.line}:${pos.col}: ${p.severity}: ${where}${p.message}`;
}

/** Problems reported at most (errors first); the rest are counted in one last line. */
const MAX_PROBLEMS = 200;
/** A message longer than this is cut (a 21 MB CSV header made one 24 MB line). */
const MAX_MESSAGE = 1000;

/** Structured and formatted form of problems, for hosts (CLI, extension): errors first, at most MAX_PROBLEMS. */
export function problemMessages(file: string, text: string | null, all: readonly Problem[]): ProblemMessage[] {
  const sorted =
    all.length > MAX_PROBLEMS
      ? [...all.filter((p) => p.severity === 'error'), ...all.filter((p) => p.severity !== 'error')]
      : all;
  const cut = (s: string, max: number): string =>
    s.length > max ? `${s.slice(0, max)}… (${s.length - max} more characters)` : s;
  const problems = sorted
    .slice(0, MAX_PROBLEMS)
    .map((p) => ({ ...p, path: cut(p.path, 200), message: cut(p.message, MAX_MESSAGE) }));
  if (sorted.length > MAX_PROBLEMS) {
    const rest = sorted.slice(MAX_PROBLEMS);
    const errors = rest.filter((p) => p.severity === 'error').length;
    problems.push({
      severity: errors > 0 ? 'error' : 'warning',
      start: 0,
      end: 0,
      path: '',
      line: 1,
      col: 1,
      message: `and ${rest.length} more problem${rest.length === 1 ? '' : 's'} (${errors} error${errors === 1 ? '' : 's'}) not shown; fix these first`,
    });
  }
  return problems.map((p) => {
    const s =
      p.line !== undefined
        ? { line: p.line, col: p.col ?? 1 }
        : text !== null
          ? lineCol(text, p.start)
          : { line: 1, col: 1 };
    const e = p.line !== undefined ? s : text !== null ? lineCol(text, Math.max(p.end, p.start)) : s;
    return {
      severity: p.severity,
      text: formatProblem(file, text, p),
      file: p.file ?? file,
      line: s.line,
      col: s.col,
      endLine: e.line,
      endCol: e.col,
      path: p.path,
      message: p.message,
    };
  });
}
