/**
 * A training log as a stream of runs: each line parsed into an event of the schema, the
 * detectors run over it (stream-detectors.ts), malformed lines skipped and counted (never fatal),
 * a truncated or replaced file — or a second `start` — beginning a new run, and a run with no new
 * line for `stallMs` and no `end` marked stalled. Used by `layerwise watch` and the extension.
 */
import type { LayerwiseEvent } from '../protocol/events';
import { parseEventLine } from '../protocol/parse-event';
import type { Thresholds } from '../core/detectors';
import { StreamDetectors } from '../core/stream-detectors';
import { LogTail } from './tail';

interface FollowHandlers {
  /** A new run begins in the log (the first one too): what was shown belongs to the last one. */
  onRun(reason: 'first' | 'truncated' | 'replaced' | 'new start'): void;
  /** Events of the current run, the detectors' warnings after the step they concern. */
  onEvents(events: LayerwiseEvent[]): void;
  /** A line that is not an event was skipped. */
  onMalformed?(lineNo: number, reason: string, count: number): void;
  /** The run stopped writing (no new line for stallMs, no `end`), or started again. */
  onStall?(stalled: boolean): void;
  /** The file could not be read (it may come back: polling goes on). */
  onError?(e: NodeJS.ErrnoException): void;
}

interface FollowOptions {
  thresholds?: Partial<Thresholds>;
  pollMs?: number;
  stallMs?: number;
  now?: () => number;
}

export class LogFollower {
  readonly tail: LogTail;
  private detectors: StreamDetectors;
  private batch: LayerwiseEvent[] = [];
  private started = false;
  private lastLineAt: number;
  private stallTimer: ReturnType<typeof setInterval> | null = null;
  malformed = 0;
  ended = false;
  stalled = false;
  /** Events of the current run so far (steps and all). */
  runs = 0;

  constructor(
    readonly file: string,
    private readonly handlers: FollowHandlers,
    private readonly opts: FollowOptions = {},
  ) {
    this.detectors = new StreamDetectors(opts.thresholds);
    this.lastLineAt = this.now();
    this.tail = new LogTail(file, {
      onLine: (line, n) => this.line(line, n),
      onRestart: (reason) => this.newRun(reason),
      onOverlong: (n) => this.bad(n, 'line too long'),
    });
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** Reads what is in the file now and hands it over; throws if the file cannot be read. */
  readNow(): void {
    this.tail.poll();
    this.flush();
  }

  /** Keeps reading as the file grows, until stop(). */
  follow(): void {
    this.tail.follow(this.opts.pollMs ?? 250, (e) => this.handlers.onError?.(e));
    const tick = setInterval(
      () => {
        this.flush();
        const stall = this.started && !this.ended && this.now() - this.lastLineAt > (this.opts.stallMs ?? 60000);
        if (stall !== this.stalled) {
          this.stalled = stall;
          this.handlers.onStall?.(stall);
        }
      },
      Math.min(this.opts.pollMs ?? 250, 1000),
    );
    this.stallTimer = tick;
    this.flush();
  }

  stop(): void {
    this.tail.stop();
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.stallTimer = null;
    this.flush();
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    const b = this.batch;
    this.batch = [];
    this.handlers.onEvents(b);
  }

  private newRun(reason: 'first' | 'truncated' | 'replaced' | 'new start'): void {
    this.flush();
    this.detectors = new StreamDetectors(this.opts.thresholds);
    this.ended = false;
    this.started = reason !== 'truncated' && reason !== 'replaced';
    this.runs++;
    this.handlers.onRun(reason);
  }

  private bad(lineNo: number, reason: string): void {
    this.malformed++;
    this.handlers.onMalformed?.(lineNo, reason, this.malformed);
  }

  private line(text: string, lineNo: number): void {
    this.lastLineAt = this.now();
    if (this.stalled) {
      this.stalled = false;
      this.handlers.onStall?.(false);
    }
    if (text.trim() === '') return;
    const e = parseEventLine(text);
    if ('error' in e) {
      this.bad(lineNo, e.error);
      return;
    }
    if (e.type === 'start') {
      if (this.started) this.newRun('new start');
      else if (this.runs === 0) this.newRun('first');
      this.started = true;
    } else if (!this.started) {
      if (this.runs === 0) this.newRun('first');
      this.started = true;
    }
    if (e.type === 'end') {
      this.ended = true;
      this.batch.push(...this.detectors.finish());
    }
    this.batch.push(e);
    this.batch.push(...this.detectors.observe(e));
    if (this.batch.length >= 2000) this.flush();
  }
}
