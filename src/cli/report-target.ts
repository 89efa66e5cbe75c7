/**
 * Where `--html` may write. Checked before a run starts: never over the model file, its data or its
 * weights (whatever path or link names them), never over a folder, and over an existing file only
 * when it is a report Layerwise wrote (its head carries REPORT_MARKER) or `--force` is given. The
 * report is written to a temporary file beside the target, then renamed over it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseJsonc, prop } from '../modelfile/jsonc';
import type { JsonObject } from '../modelfile/jsonc';
import { REPORT_MARKER } from '../report/page';

/** The files a model file reads (itself, its CSV, its safetensors), as far as its text says. */
export function modelInputs(modelFile: string): { file: string; what: string }[] {
  const out = [{ file: modelFile, what: 'the model file' }];
  let text: string;
  try {
    text = fs.readFileSync(modelFile, 'utf8');
  } catch {
    return out;
  }
  const r = parseJsonc(text);
  if (!r.ok || r.root.kind !== 'object') return out;
  const dir = path.dirname(path.resolve(modelFile));
  const str = (o: JsonObject | undefined, key: string): string | null => {
    const v = o ? prop(o, key)?.value : undefined;
    return v && v.kind === 'string' ? v.value : null;
  };
  const data = prop(r.root, 'data')?.value;
  const csv = data && data.kind === 'object' ? str(data, 'path') : null;
  if (csv) out.push({ file: path.resolve(dir, csv), what: 'its data' });
  const weights = str(r.root, 'weights');
  if (weights) out.push({ file: path.resolve(dir, weights), what: 'its weights' });
  return out;
}

function real(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** Why `out` must not be written, or null when it may. */
export function reportTargetProblem(
  out: string,
  inputs: readonly { file: string; what: string }[],
  force: boolean,
): string | null {
  const target = real(out);
  for (const i of inputs) {
    if (real(i.file) === target) return `--html ${out} would write over ${i.what}; choose another file for the report`;
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(out);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return `--html ${out}: ${(e as Error).message}`;
    const dir = path.dirname(path.resolve(out));
    let d: fs.Stats;
    try {
      d = fs.statSync(dir);
    } catch {
      return `--html ${out}: the folder ${dir} does not exist`;
    }
    if (!d.isDirectory()) return `--html ${out}: ${dir} is not a folder`;
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch {
      return `--html ${out}: the folder ${dir} cannot be written`;
    }
    return null;
  }
  if (st.isDirectory()) return `--html ${out} is a folder; give a file name for the report`;
  if (!st.isFile()) return `--html ${out} is not a regular file; give a file name for the report`;
  if (force || isReport(out)) return null;
  return `--html ${out} exists and is not a Layerwise report; add --force to replace it, or choose another file`;
}

function isReport(file: string): boolean {
  let fd: number | null = null;
  try {
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(4096);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return head.subarray(0, n).toString('utf8').includes(REPORT_MARKER);
  } catch {
    return false;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** Writes `text` to `out` through a temporary file in the same folder and a rename. */
export function writeAtomically(out: string, text: string): void {
  const tmp = path.join(path.dirname(path.resolve(out)), `.${path.basename(out)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, out);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* not created */
    }
    throw e;
  }
}
