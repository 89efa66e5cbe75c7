/**
 * Messages between the extension host and the webview. The host sends events of the one schema
 * (events.ts), grouped by series; the webview never computes statistics, it renders them.
 * Everything the webview sends is validated with `parseWebviewMessage` before use.
 */
import type { LayerwiseEvent } from './events';
import { EVENT_TYPES } from './events';

export type PanelMode = 'analysis' | 'run' | 'compare' | 'report';

export type HostMessage =
  /** Start over: a new model, run or comparison. `series` lists the labels to expect. */
  | { type: 'reset'; mode: PanelMode; title: string; series: string[]; clipMax: number | null }
  /**
   * Events for one series (the run, or one init scheme of a comparison). When the sender thinned
   * the series' step events, `seen` is the exact tally of all of them up to the last one here.
   * `seq` (a live post): the webview acknowledges it on arrival with an `ack` (post-window.ts).
   */
  | {
      type: 'events';
      series: string;
      events: LayerwiseEvent[];
      seen?: { steps: number; clipped: number };
      seq?: number;
    }
  /** Problems that keep the model from loading (the panel shows them instead of charts). */
  | { type: 'problems'; lines: string[] }
  /** The run's status changed (for the Run/Stop buttons). */
  | { type: 'status'; running: boolean }
  /** A followed training log: its name, malformed lines skipped so far, whether it went quiet. */
  | { type: 'log'; file: string; malformed: number; stalled: boolean }
  /** An overlaid series (a kept run) taken off the charts. */
  | { type: 'removeSeries'; series: string };

export type WebviewMessage =
  | { type: 'ready' }
  | { type: 'revealLayer'; layer: number }
  /** A PyTorch layer's module: the line of the user's code that creates it (the log's `modules`). */
  | { type: 'revealSource'; file: string; line: number }
  /** A toolbar button (run, stop, analyze, compare) or the empty side view's (newModel, openLog). */
  | { type: 'command'; command: PanelCommand }
  /** After a render (at most once a second): data points drawn per chart. */
  | { type: 'drawn'; points: Record<string, number> }
  /** An events post with this `seq` arrived (the host's flow control: post-window.ts). */
  | { type: 'ack'; seq: number };

const PANEL_COMMANDS = ['run', 'stop', 'analyze', 'compare', 'newModel', 'openLog'] as const;
/** What a button of the webview asks the host to do. */
export type PanelCommand = (typeof PANEL_COMMANDS)[number];
const COMMANDS = new Set<string>(PANEL_COMMANDS);

/** Returns the message if it is a well-formed WebviewMessage, otherwise null. */
export function parseWebviewMessage(m: unknown): WebviewMessage | null {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return null;
  const o = m as Record<string, unknown>;
  const keys = Object.keys(o);
  switch (o.type) {
    case 'ready':
      return keys.length === 1 ? { type: 'ready' } : null;
    case 'revealLayer':
      return keys.length === 2 &&
        typeof o.layer === 'number' &&
        Number.isSafeInteger(o.layer) &&
        o.layer >= 0 &&
        o.layer < 100000
        ? { type: 'revealLayer', layer: o.layer }
        : null;
    case 'revealSource':
      return keys.length === 3 &&
        typeof o.file === 'string' &&
        o.file.length > 0 &&
        o.file.length <= 4096 &&
        typeof o.line === 'number' &&
        Number.isSafeInteger(o.line) &&
        o.line >= 1
        ? { type: 'revealSource', file: o.file, line: o.line }
        : null;
    case 'command':
      return keys.length === 2 && typeof o.command === 'string' && COMMANDS.has(o.command)
        ? { type: 'command', command: o.command as PanelCommand }
        : null;
    case 'ack':
      return keys.length === 2 && isSeq(o.seq) ? { type: 'ack', seq: o.seq as number } : null;
    case 'drawn': {
      if (keys.length !== 2 || typeof o.points !== 'object' || o.points === null || Array.isArray(o.points))
        return null;
      const entries = Object.entries(o.points as Record<string, unknown>);
      if (
        entries.length > 32 ||
        !entries.every(
          ([k, v]) => /^[a-zA-Z]{1,32}$/.test(k) && typeof v === 'number' && Number.isSafeInteger(v) && v >= 0,
        )
      )
        return null;
      return { type: 'drawn', points: Object.fromEntries(entries) as Record<string, number> };
    }
    default:
      return null;
  }
}

const MODES = new Set(['analysis', 'run', 'compare', 'report']);
const isStr = (v: unknown): v is string => typeof v === 'string';

/** Returns the message if it is a well-formed HostMessage (events checked by their `type`), else null. */
export function parseHostMessage(m: unknown): HostMessage | null {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return null;
  const o = m as Record<string, unknown>;
  switch (o.type) {
    case 'reset':
      return isStr(o.mode) &&
        MODES.has(o.mode) &&
        isStr(o.title) &&
        Array.isArray(o.series) &&
        o.series.every(isStr) &&
        (o.clipMax === null || (typeof o.clipMax === 'number' && Number.isFinite(o.clipMax)))
        ? (o as HostMessage)
        : null;
    case 'events':
      return isStr(o.series) &&
        Array.isArray(o.events) &&
        o.events.every(
          (e) =>
            typeof e === 'object' &&
            e !== null &&
            (EVENT_TYPES as readonly unknown[]).includes((e as { type?: unknown }).type),
        ) &&
        (o.seen === undefined || isTally(o.seen)) &&
        (o.seq === undefined || isSeq(o.seq))
        ? (o as HostMessage)
        : null;
    case 'problems':
      return Array.isArray(o.lines) && o.lines.every(isStr) ? (o as HostMessage) : null;
    case 'status':
      return typeof o.running === 'boolean' ? (o as HostMessage) : null;
    case 'removeSeries':
      return isStr(o.series) ? (o as HostMessage) : null;
    case 'log':
      return isStr(o.file) &&
        typeof o.malformed === 'number' &&
        Number.isSafeInteger(o.malformed) &&
        o.malformed >= 0 &&
        typeof o.stalled === 'boolean'
        ? (o as HostMessage)
        : null;
    default:
      return null;
  }
}

function isCount(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isSeq(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

function isTally(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as { steps?: unknown; clipped?: unknown };
  return isCount(t.steps) && isCount(t.clipped) && (t.clipped as number) <= (t.steps as number);
}
