/**
 * The webview's state: the events received, per series, with bounded memory. Step history keeps
 * full resolution for the most recent steps and min/max buckets (by loss) for the rest, so a
 * 100,000-step run stays smooth and small. Renders nothing and computes no statistics: it only
 * keeps what the events say.
 */
import type {
  AnalysisEvent,
  EndEvent,
  HistogramEvent,
  LayerwiseEvent,
  StartEvent,
  StepEvent,
  WarningEvent,
} from '../src/protocol/events';
import type { HostMessage, PanelMode } from '../src/protocol/webview-messages';
import { quantiles } from './quantiles';

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
  /** The latest histogram event, and per histogram step the quantile bands read off it. */
  histogram: HistogramEvent | null;
  bands: BandPoint[];
  /** λmax and its divergence threshold per sharpness step (at most MAX_BANDS, thinned like the bands). */
  sharpness: { step: number; lambdaMax: number; threshold: number | null }[];
  /** The held-out loss and accuracy per validation step (at most MAX_BANDS, thinned like the bands). */
  validation: { step: number; loss: number; accuracy: number | null }[];
}

/** The quantity a histogram describes. */
export type HistQuantity = 'preact' | 'act' | 'grad';

/** One histogram step: per layer, per quantity, the 5/25/50/75/95 % quantiles (null: no values). */
export interface BandPoint {
  step: number;
  layers: Record<HistQuantity, number[] | null>[];
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
  /** The layer the distribution charts show (clicked in the variance profile), and which quantity. */
  layer: number | null;
  quantity: HistQuantity;
  /** The loss chart's EMA weight (0: raw only). */
  smoothing: number;
}

export const RECENT = 1500;
export const MAX_OLDER = 1500;
/** Histogram steps kept as bands; beyond, every other one is dropped (the oldest first thin out). */
const MAX_BANDS = 400;
const MAX_WARNINGS = 500;

function emptyState(): StoreState {
  return {
    mode: 'analysis',
    title: '',
    clipMax: null,
    series: [],
    problems: [],
    running: false,
    log: null,
    layer: null,
    quantity: 'act',
    smoothing: 0.6,
  };
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
    histogram: null,
    bands: [],
    sharpness: [],
    validation: [],
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
        this.state = {
          ...emptyState(),
          mode: m.mode,
          title: m.title,
          clipMax: m.clipMax,
          running: m.mode === 'run',
          // the user's choice of layer and quantity outlives a new run of the model
          layer: this.state.layer,
          quantity: this.state.quantity,
          smoothing: this.state.smoothing,
        };
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
      case 'removeSeries':
        this.state.series = this.state.series.filter((x) => x.label !== m.series);
        break;
      case 'events': {
        const s = this.series(m.series);
        for (const e of m.events) this.applyEvent(s, e);
        // thinned by the sender: the exact tally of the steps it had (a replay repeats it)
        if (m.seen) {
          s.stepsSeen = Math.max(s.stepsSeen, m.seen.steps);
          s.clippedSeen = Math.max(s.clippedSeen, m.seen.clipped);
        }
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
      case 'sharpness': {
        const last = s.sharpness.at(-1);
        if (last && e.step <= last.step) break;
        s.sharpness.push({ step: e.step, lambdaMax: e.lambdaMax, threshold: e.threshold });
        if (s.sharpness.length > MAX_BANDS)
          s.sharpness = s.sharpness.filter((_, i) => i % 2 === 1 || i >= s.sharpness.length - 50);
        break;
      }
      case 'validation': {
        const last = s.validation.at(-1);
        if (last && e.step <= last.step) break;
        s.validation.push({ step: e.step, loss: e.loss, accuracy: e.accuracy });
        if (s.validation.length > MAX_BANDS)
          s.validation = s.validation.filter((_, i) => i % 2 === 1 || i >= s.validation.length - 50);
        break;
      }
      case 'histogram': {
        // in step order; one at or before the latest is a replay
        if (s.histogram && e.step <= s.histogram.step) break;
        s.histogram = e;
        s.bands.push({
          step: e.step,
          layers: e.layers.map((l) => ({
            preact: quantiles(l.preact),
            act: quantiles(l.act),
            grad: quantiles(l.grad),
          })),
        });
        if (s.bands.length > MAX_BANDS) s.bands = s.bands.filter((_, i) => i % 2 === 1 || i >= s.bands.length - 50);
        break;
      }
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

  /** The layer (and quantity) the distribution charts show. */
  select(layer: number | null, quantity: HistQuantity = this.state.quantity): void {
    this.state.layer = layer;
    this.state.quantity = quantity;
  }

  /**
   * What the step charts (loss, ‖g‖, dead units over steps) draw one line of per series: each
   * init of a comparison, or each run when kept runs are overlaid on a run; null: one series.
   */
  static perSeries(s: StoreState): 'init' | 'run' | null {
    if (s.mode === 'compare') return 'init';
    return s.series.filter((x) => x.latest).length > 1 ? 'run' : null;
  }

  /** Every kept point of a series, oldest first. */
  static history(s: Series): StepPoint[] {
    return s.older.length ? [...s.older, ...s.recent] : s.recent;
  }
}
