/**
 * Every run of a model file, kept in the workspace's storage so runs can be listed and overlaid
 * later: per model file at most MAX_RUNS (the oldest go first), each run's events thinned to
 * MAX_STEPS step events, fewer of a deep net (MAX_STEP_ROWS rows: thinning.ts `rowsOf`; 250 of a
 * 31-layer net, 200 at least), without its histograms, with the exact step tally. One JSON
 * file per run, written atomically (a temporary file renamed); a file that cannot be read is
 * skipped and named, never fatal. Node only: no VS Code.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EndEvent, EndReason, LayerwiseEvent, StepEvent, ValidationEvent } from '../protocol/events';
import { parseEventLine } from '../protocol/parse-event';
import type { StepTally } from '../report/thinning';
import { eventsIn, tallySteps, thinEvents } from '../report/thinning';

/** A kept run of a model file, as the Runs view lists it. */
export interface RunSummary {
  id: string;
  title: string;
  /** When it ended (ISO 8601). */
  date: string;
  steps: number;
  outcome: EndReason;
  /** The loss of its last step event (null: none, or not finite). */
  finalLoss: number | null;
  /** Its last held-out loss, when it had held-out samples. */
  heldOutLoss: number | null;
}

/** A kept run's id: base-36 time, a dash, six hex digits. */
export function isRunId(v: unknown): v is string {
  return typeof v === 'string' && /^[a-z0-9]{1,12}-[0-9a-f]{6}$/.test(v);
}

export const MAX_RUNS = 20;
export const MAX_STEPS = 2000;
/** Rows of step events a kept run holds at most (2000 steps of a 3-layer net), and the floor. */
const MAX_STEP_ROWS = 8000;
const LEAST_STEPS = 200;
const VERSION = 1;

/** A kept run: its summary, its (thinned) events and the tally of all its steps. */
interface StoredRun extends RunSummary {
  version: number;
  file: string;
  seen: StepTally;
  events: LayerwiseEvent[];
}

export class RunHistory {
  constructor(
    private readonly dir: string,
    /** Told of a kept file that cannot be read (it is skipped). */
    private readonly onProblem: (message: string) => void = () => undefined,
  ) {}

  private folder(file: string): string {
    return path.join(this.dir, createHash('sha256').update(file).digest('hex').slice(0, 24));
  }

  /**
   * Keeps a run of `file` (its events as the run emitted them; `seen` the tally of every step when
   * the events are already thinned) and drops the oldest beyond MAX_RUNS. Returns its summary.
   */
  save(file: string, title: string, events: readonly LayerwiseEvent[], seen?: StepTally, now = new Date()): RunSummary {
    const steps = events.filter((e): e is StepEvent => e.type === 'step');
    const end = events.find((e): e is EndEvent => e.type === 'end');
    const val = events.filter((e): e is ValidationEvent => e.type === 'validation').at(-1);
    const id = `${now.getTime().toString(36)}-${randomBytes(3).toString('hex')}`;
    const run: StoredRun = {
      version: VERSION,
      id,
      file,
      title,
      date: now.toISOString(),
      steps: end?.steps ?? steps.length,
      outcome: end?.reason ?? 'stopped',
      finalLoss: finiteOrNull(steps.at(-1)?.loss),
      heldOutLoss: finiteOrNull(val?.loss),
      seen: seen ?? tallySteps(events),
      events: thinEvents(
        events.filter((e) => e.type !== 'histogram'),
        'step',
        eventsIn(events, 'step', MAX_STEP_ROWS, LEAST_STEPS, MAX_STEPS),
      ),
    };
    const dir = this.folder(file);
    fs.mkdirSync(dir, { recursive: true });
    const target = path.join(dir, `${id}.json`);
    const tmp = `${target}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(run));
    fs.renameSync(tmp, target);
    for (const old of this.read(file).slice(MAX_RUNS)) this.remove(file, old.id);
    return summaryOf(run);
  }

  /** The kept runs of `file`, newest first. */
  list(file: string): RunSummary[] {
    return this.read(file).map(summaryOf);
  }

  /** One kept run (its events checked as a log's are), or null when it is gone or unreadable. */
  load(file: string, id: string): StoredRun | null {
    if (!isRunId(id)) return null;
    const r = this.readOne(path.join(this.folder(file), `${id}.json`), file);
    if (!r) return null;
    // JSON has no NaN: the log format's reading (null → NaN) and its checks
    const events: LayerwiseEvent[] = [];
    for (const e of r.events) {
      const p = parseEventLine(JSON.stringify(e));
      if (!('error' in p)) events.push(p);
    }
    return { ...r, events };
  }

  remove(file: string, id: string): void {
    if (!isRunId(id)) return;
    fs.rmSync(path.join(this.folder(file), `${id}.json`), { force: true });
  }

  private read(file: string): StoredRun[] {
    const dir = this.folder(file);
    let names: string[];
    try {
      names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch {
      return [];
    }
    return names
      .map((n) => this.readOne(path.join(dir, n), file))
      .filter((r): r is StoredRun => r !== null)
      .sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : a.id < b.id ? 1 : -1));
  }

  private readOne(p: string, file: string): StoredRun | null {
    try {
      const r = JSON.parse(fs.readFileSync(p, 'utf8')) as StoredRun;
      if (r.version !== VERSION || r.file !== file || !Array.isArray(r.events) || typeof r.id !== 'string')
        throw new Error('not a run Layerwise kept');
      return r;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        this.onProblem(`skipped the kept run ${p}: ${e instanceof Error ? e.message : String(e)}`);
      return null;
    }
  }
}

function finiteOrNull(x: number | undefined): number | null {
  return x !== undefined && Number.isFinite(x) ? x : null;
}

function summaryOf(r: StoredRun): RunSummary {
  return {
    id: r.id,
    title: r.title,
    date: r.date,
    steps: r.steps,
    outcome: r.outcome,
    finalLoss: r.finalLoss,
    heldOutLoss: r.heldOutLoss,
  };
}
