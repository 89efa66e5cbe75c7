/**
 * CSV data (RFC 4180: quoted fields with "" escapes; \n or \r\n records; a leading BOM dropped;
 * blank lines skipped). With a header row, the `target` column (by name or 0-based index; default
 * the last) is the target; every other column is an input feature, in order. Every problem is
 * reported at its line and column. Values are parsed straight into the data set's arrays.
 */
import { Stopped } from '../core/data';
import type { Dataset, Task } from '../core/spec';

interface CsvOptions {
  header: boolean;
  target: string | number | null;
  task: Task;
  /** classification: number of classes (targets must be integers in [0, classes)). */
  classes: number;
  inputSize: number;
  /** Stop collecting after this many problems. */
  maxProblems?: number;
  /** Asked every 4096 records: true stops the reading (Stopped is thrown). */
  shouldStop?: () => boolean;
}

/** A problem in the CSV (line/col in it), or one to report at a field of the model file. */
interface CsvProblem {
  line: number;
  col: number;
  message: string;
  /** The model-file field the problem belongs to, when it is not in the CSV itself. */
  modelField?: 'target' | 'inputSize' | 'path';
}

type CsvResult = { ok: true; dataset: Dataset; columns: string[] } | { ok: false; problems: CsvProblem[] };

interface Cell {
  text: string;
  /** Where the cell starts (a quoted field may span lines, so a record's cells may too). */
  line: number;
  col: number;
}

/** Splits CSV text into records of cells with their line and column. */
function* records(
  text: string,
): Generator<{ line: number; cells: Cell[] } | { line: number; col: number; error: string }> {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1,
    lineStart = i;
  const n = text.length;
  while (i < n) {
    const recLine = line;
    const cells: Cell[] = [];
    let blank = true;
    /** The record had an error: it is reported once, as that error, and not as a record too. */
    let bad = false;
    for (;;) {
      const col = i - lineStart + 1,
        cellLine = line;
      let value = '';
      if (text[i] === '"') {
        blank = false;
        const qLine = line,
          qCol = col;
        i++;
        for (;;) {
          if (i >= n) {
            yield { line: qLine, col: qCol, error: 'unterminated quoted field' };
            return;
          }
          const c = text[i]!;
          if (c === '"') {
            if (text[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          // a line break inside a quoted field: \n, \r\n or a lone \r, as editors count lines
          if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) {
            line++;
            lineStart = i + 1;
          }
          value += c;
          i++;
        }
        if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          yield {
            line,
            col: i - lineStart + 1,
            error: 'unexpected character after a closing quote; expected "," or the end of the line',
          };
          bad = true;
          while (i < n && text[i] !== '\n' && text[i] !== '\r') i++; // to the end of the line, however it ends
        }
      } else {
        const s = i;
        while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') i++;
        value = text.slice(s, i);
        if (value.trim() !== '') blank = false;
      }
      cells.push({ text: value, line: cellLine, col });
      if (text[i] === ',') {
        i++;
        blank = false;
        continue;
      }
      if (text[i] === '\r') i++;
      if (text[i] === '\n') i++;
      line++;
      lineStart = i;
      break;
    }
    if (!blank && !bad) yield { line: recLine, cells };
  }
}

const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export function parseCsv(text: string, opts: CsvOptions): CsvResult {
  const max = opts.maxProblems ?? 20;
  const problems: CsvProblem[] = [];
  const add = (p: CsvProblem): boolean => {
    problems.push(p);
    return problems.length >= max;
  };
  let header: string[] | null = null;
  let width = -1,
    targetCol = -1,
    headerLine = 0;
  let samples = 0,
    cap = 1024;
  let x = new Float64Array(0),
    y = new Float64Array(0);
  let d = 0;
  let seen = 0;
  let classProblem = false; // a target cell that is no class index (classification)
  for (const r of records(text)) {
    if ((++seen & 4095) === 0 && opts.shouldStop?.()) throw new Stopped('stopped while reading the CSV');
    if ('error' in r) {
      if (add({ line: r.line, col: r.col, message: r.error })) break;
      continue;
    }
    if (width < 0) {
      width = r.cells.length;
      headerLine = r.line;
      if (opts.header) header = r.cells.map((c) => c.text.trim());
      if (width < 2)
        return {
          ok: false,
          problems: [
            {
              line: r.line,
              col: 1,
              message: `the CSV needs at least 2 columns (features and a target), found ${width}`,
            },
          ],
        };
      const t = opts.target;
      if (t === null) targetCol = width - 1;
      else if (typeof t === 'number') {
        if (t >= width)
          return {
            ok: false,
            problems: [
              {
                line: 1,
                col: 1,
                modelField: 'target',
                message: `target column ${t} does not exist; the CSV has ${width} columns (0 to ${width - 1})`,
              },
            ],
          };
        targetCol = t;
      } else {
        if (!header)
          return {
            ok: false,
            problems: [
              {
                line: 1,
                col: 1,
                modelField: 'target',
                message: `target "${t}" names a column, but data.header is false; give its 0-based index`,
              },
            ],
          };
        targetCol = header.indexOf(t);
        if (targetCol < 0) {
          const near = header.find((h) => h.toLowerCase() === t.toLowerCase());
          return {
            ok: false,
            problems: [
              {
                line: 1,
                col: 1,
                modelField: 'target',
                message: `no column "${t}" in the CSV header; columns: ${header.join(', ')}${near ? ` (did you mean "${near}"?)` : ''}`,
              },
            ],
          };
        }
      }
      d = width - 1;
      if (d !== opts.inputSize) {
        const names = header ? header.filter((_, j) => j !== targetCol).join(', ') : `${d} columns`;
        return {
          ok: false,
          problems: [
            {
              line: 1,
              col: 1,
              modelField: 'inputSize',
              message: `input.size is ${opts.inputSize}, but the CSV has ${d} feature column${d === 1 ? '' : 's'} (${names}); make them equal`,
            },
          ],
        };
      }
      x = new Float64Array(cap * d);
      y = new Float64Array(cap);
      if (opts.header) continue;
    }
    if (r.cells.length !== width) {
      const where = header ? ` (header at line ${headerLine})` : '';
      if (
        add({
          line: r.line,
          col: 1,
          message: `row has ${r.cells.length} field${r.cells.length === 1 ? '' : 's'}, expected ${width}${where}`,
        })
      )
        break;
      continue;
    }
    if (samples === cap) {
      cap *= 2;
      const nx = new Float64Array(cap * d);
      nx.set(x);
      x = nx;
      const ny = new Float64Array(cap);
      ny.set(y);
      y = ny;
    }
    let f = 0;
    let stop = false;
    for (let j = 0; j < width; j++) {
      const c = r.cells[j]!;
      const s = c.text.trim();
      const v = NUMERIC.test(s) ? Number(s) : NaN;
      const name = header ? `column "${header[j]}"` : `column ${j}`;
      if (!Number.isFinite(v)) {
        const what = s === '' ? 'an empty cell' : `"${s.length > 30 ? s.slice(0, 30) + '…' : s}"`;
        // a class name where a class index belongs: say what to write instead
        const names =
          j === targetCol && opts.task === 'classification' && s !== ''
            ? `; cross_entropy needs class indices 0 to ${opts.classes - 1} there: write each class name as its index (e.g. with sklearn's LabelEncoder)`
            : '';
        if (j === targetCol && opts.task === 'classification') classProblem = true;
        stop = add({ line: c.line, col: c.col, message: `${what} in ${name} is not a number${names}` });
        if (stop) break;
        continue;
      }
      if (j === targetCol) {
        if (opts.task === 'classification') {
          if (!Number.isInteger(v) || v < 0 || v >= opts.classes) classProblem = true;
          if (!Number.isInteger(v)) {
            stop = add({
              line: c.line,
              col: c.col,
              message: `class index ${s} in ${name} is not an integer; cross_entropy needs class indices 0 to ${opts.classes - 1}`,
            });
            if (stop) break;
            continue;
          }
          if (v < 0 || v >= opts.classes) {
            stop = add({
              line: c.line,
              col: c.col,
              message: `class index ${s} in ${name} is out of range; the output layer has ${opts.classes} units, so classes are 0 to ${opts.classes - 1}`,
            });
            if (stop) break;
            continue;
          }
        }
        y[samples] = v;
      } else {
        x[samples * d + f] = v;
        f++;
      }
    }
    if (stop) break;
    samples++;
  }
  if (classProblem && opts.target === null) {
    // the default taken may be the mistake (the class column is another): said once, at data.target
    const name = header ? header[targetCol] : String(targetCol);
    problems.unshift({
      line: 1,
      col: 1,
      modelField: 'target',
      message: `data.target is not set, so the last column, "${name}", is the target; if the class indices are in another column, name it in data.target`,
    });
    if (problems.length > max) problems.pop();
  }
  if (problems.length > 0) return { ok: false, problems };
  if (width < 0)
    return {
      ok: false,
      problems: [
        { line: 1, col: 1, message: 'the CSV file is empty; it needs a header row and at least one data row' },
      ],
    };
  if (samples === 0)
    return { ok: false, problems: [{ line: headerLine, col: 1, message: 'the CSV has a header but no data rows' }] };
  const columns = header ?? Array.from({ length: width }, (_, j) => String(j));
  return {
    ok: true,
    columns,
    dataset: { samples, inputSize: d, x: x.subarray(0, samples * d), y: y.subarray(0, samples), targetSize: 1 },
  };
}
