/**
 * The webview's state: the events received, per series, with bounded memory. Step history keeps
 * full resolution for the most recent steps and min/max buckets (by loss) for the rest, so a
 * 100,000-step run stays smooth and small. Renders nothing and computes no statistics: it only
 * keeps what the events say.
 */
import type {
  AnalysisEvent,
  EndEvent,
  LayerwiseEvent,
  StartEvent,
  StepEvent,
  WarningEvent,
} from '../src/protocol/events';
import type { HostMessage, PanelMode } from '../src/protocol/webview-messages';

/** One kept step: the scalars the charts plot over time. */
export interface StepPoint {
  step: number;
  loss: number;
  gradNorm: number;
  gradNormClipped: number;
  clipped: boolean;
  /** Dead units per layer (null where the activation has none). */
  dead: (number | null)[];
}

export interface Series {
  label: string;
  start: StartEvent | null;
  analysis: AnalysisEvent | null;
  latest: StepEvent | null;
  recent: StepPoint[];
  older: StepPoint[];
  stepsSeen: number;
  clippedSeen: number;
  warnings: WarningEvent[];
  end: EndEvent | null;
}

export interface StoreState {
  mode: PanelMode;
  title: string;
  clipMax: number | null;
  series: Series[];
  problems: string[];
  running: boolean;
  /** The training log the panel follows, if it shows one. */
  log: { file: string; malformed: number; stalled: boolean } | null;
}

export const RECENT = 1500;
export const MAX_OLDER = 1500;
const MAX_WARNINGS = 500;

function emptyState(): StoreState {
  return { mode: 'analysis', title: '', clipMax: null, series: [], problems: [], running: false, log: null };
}

function newSeries(label: string): Series {
  return {
    label,
    start: null,
    analysis: null,
    latest: null,
    recent: [],
    older: [],
    stepsSeen: 0,
    clippedSeen: 0,
    warnings: [],
    end: null,
  };
}

/** Keeps the points with the smallest and largest loss of each bucket of `size`, in step order. */
function minMaxBuckets(points: readonly StepPoint[], size: number): StepPoint[] {
  const out: StepPoint[] = [];
  for (let i = 0; i < points.length; i += size) {
    const b = points.slice(i, i + size);
    let lo = b[0]!,
      hi = b[0]!;
    for (const p of b) {
      if (p.loss < lo.loss) lo = p;
      if (p.loss > hi.loss) hi = p;
    }
    if (lo === hi) out.push(lo);
    else out.push(...(lo.step < hi.step ? [lo, hi] : [hi, lo]));
  }
  return out;
}

export class Store {
  state: StoreState;

  constructor(initial?: StoreState) {
    this.state = initial ?? emptyState();
  }

  series(label: string): Series {
    let s = this.state.series.find((x) => x.label === label);
    if (!s) {
      s = newSeries(label);
      this.state.series.push(s);
    }
    return s;
  }

  apply(m: HostMessage): void {
    switch (m.type) {
      case 'reset':
        this.state = { ...emptyState(), mode: m.mode, title: m.title, clipMax: m.clipMax, running: m.mode === 'run' };
        for (const label of m.series) this.series(label);
        break;
      case 'problems':
        this.state.problems = m.lines.slice(0, 200);
        break;
      case 'status':
        this.state.running = m.running;
        break;
      case 'log':
        this.state.log = { file: m.file, malformed: m.malformed, stalled: m.stalled };
        break;
      case 'events': {
        const s = this.series(m.series);
        for (const e of m.events) this.applyEvent(s, e);
        break;
      }
    }
  }

  private applyEvent(s: Series, e: LayerwiseEvent): void {
    switch (e.type) {
      case 'start':
        s.start = e;
        this.state.problems = [];
        if (e.clip) this.state.clipMax = e.clip.max;
        break;
      case 'analysis':
        s.analysis = e;
        this.state.problems = [];
        break;
      case 'warning': {
        // a warning replayed after it arrived live is the same warning
        const same = s.warnings.some(
          (w) => w.code === e.code && w.layer === e.layer && w.step === e.step && w.message === e.message,
        );
        if (!same && s.warnings.length < MAX_WARNINGS) s.warnings.push(e);
        break;
      }
      case 'end':
        s.end = e;
        break;
      case 'step': {
        // steps arrive in order; one at or before the latest is a replay of one already drawn
        if (s.latest && e.step <= s.latest.step) break;
        s.latest = e;
        s.stepsSeen++;
        if (e.clipped) s.clippedSeen++;
        s.recent.push({
          step: e.step,
          loss: e.loss,
          gradNorm: e.gradNorm,
          gradNormClipped: e.gradNormClipped,
          clipped: e.clipped,
          dead: e.layers.map((l) => l.dead),
        });
        if (s.recent.length > 2 * RECENT) {
          const old = s.recent.splice(0, RECENT);
          s.older.push(...minMaxBuckets(old, 8));
          while (s.older.length > MAX_OLDER) s.older = minMaxBuckets(s.older, 4);
        }
        break;
      }
    }
  }

  /** Every kept point of a series, oldest first. */
  static history(s: Series): StepPoint[] {
    return s.older.length ? [...s.older, ...s.recent] : s.recent;
  }
}
