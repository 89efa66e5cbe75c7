/**
 * Runs the core in a worker thread for a host (the CLI or the extension host): spawns the worker
 * when a run starts, forwards its events, stops it on request (shared flag first, terminate after
 * a grace period) and always terminates it at the end, so no thread, timer or listener survives.
 */
import { Worker } from 'node:worker_threads';
import type { LayerwiseEvent } from '../protocol/events';
import type { ProblemMessage, RunRequest, WorkerMessage } from '../protocol/worker-messages';
import type { StepTally } from '../report/thinning';

export type Outcome = 'completed' | 'invalid' | 'non_finite' | 'stopped' | 'crashed';

interface RunHandlers {
  /**
   * A batch of events. A promise returned means "not consumed yet" (a printer waiting for its pipe
   * to drain): the worker waits once MAX_IN_FLIGHT batches (worker-messages.ts) are unconsumed.
   * `tally` (with the request's `postRates`): every step up to the last of these, and how many
   * of them clipped.
   */
  onEvents?(events: LayerwiseEvent[], tally?: StepTally): void | Promise<void>;
  onProblems?(problems: ProblemMessage[]): void;
  onCrash?(message: string): void;
}

interface RunResult {
  outcome: Outcome;
  crash?: string;
}

/** How long a stop request may take before the worker is terminated. */
const STOP_GRACE_MS = 1000;

export class WorkerRun {
  readonly done: Promise<RunResult>;
  private worker: Worker | null;
  private readonly flag: Int32Array;
  private graceTimer: ReturnType<typeof setTimeout> | null = null;
  private settled = false;
  /** Whether the run's `end` event came. */
  private ended = false;

  constructor(workerFile: string, request: Omit<RunRequest, 'type' | 'stopFlag'>, handlers: RunHandlers = {}) {
    // [0]: stop requested; [1]: event batches posted and not yet consumed (back-pressure);
    // [2], [3]: the worker's steps applied and ms in its training loop, as of its last step
    const sab = new SharedArrayBuffer(16);
    this.flag = new Int32Array(sab);
    // The worker is a self-contained bundle: it needs none of the host's flags or loaders.
    const worker = new Worker(workerFile, { execArgv: [] });
    this.worker = worker;
    this.done = new Promise<RunResult>((resolve) => {
      const finish = (r: RunResult): void => {
        if (this.settled) return;
        this.settled = true;
        if (this.graceTimer) clearTimeout(this.graceTimer);
        this.graceTimer = null;
        worker.removeAllListeners();
        worker.on('error', () => undefined);
        this.worker = null;
        // `done` means the thread is gone: resolve once it has terminated
        void worker.terminate().then(
          () => resolve(r),
          () => resolve(r),
        );
      };
      worker.on('message', (m: WorkerMessage) => {
        switch (m.type) {
          case 'events': {
            if (m.events.some((e) => e.type === 'end')) this.ended = true;
            // acknowledged from the next turn of the event loop, not from inside this handler: Node
            // delivers up to 1000 queued port messages in one go, and a worker refilled at once
            // would keep the loop here and starve signals (Ctrl-C took seconds)
            const consumed = handlers.onEvents?.(m.events, m.tally);
            const ack = (): void => void setImmediate(() => this.consumed());
            if (consumed instanceof Promise) void consumed.then(ack, ack);
            else ack();
            break;
          }
          case 'problems':
            handlers.onProblems?.(m.problems);
            break;
          case 'done':
            finish({ outcome: m.outcome });
            break;
          case 'crash':
            handlers.onCrash?.(m.message);
            finish({ outcome: 'crashed', crash: m.message });
            break;
        }
      });
      worker.on('error', (e: Error) => {
        const message = `the training worker failed: ${e.message}`;
        handlers.onCrash?.(message);
        finish({ outcome: 'crashed', crash: message });
      });
      worker.on('exit', (code) => {
        if (this.settled) return;
        const stopped = Atomics.load(this.flag, 0) !== 0;
        if (stopped) {
          // terminated after the grace period (a busy machine, a long read of its data), or its
          // last messages lost with it: the run still ends with `end`, from the progress it wrote
          if (!this.ended)
            void handlers.onEvents?.([
              {
                type: 'end',
                steps: Atomics.load(this.flag, 2),
                reason: 'stopped',
                elapsedMs: Atomics.load(this.flag, 3),
              },
            ]);
          finish({ outcome: 'stopped' });
        } else {
          const message = `the training worker exited unexpectedly (code ${code})`;
          handlers.onCrash?.(message);
          finish({ outcome: 'crashed', crash: message });
        }
      });
    });
    const msg: RunRequest = { ...request, type: 'run', stopFlag: sab };
    worker.postMessage(msg);
  }

  private consumed(): void {
    Atomics.sub(this.flag, 1, 1);
    Atomics.notify(this.flag, 1);
  }

  /** Asks the run to stop; terminates the worker if it has not ended within `graceMs`. */
  stop(graceMs = STOP_GRACE_MS): void {
    if (this.settled || !this.worker) return;
    Atomics.store(this.flag, 0, 1);
    Atomics.notify(this.flag, 1); // a worker waiting for the host to catch up sees the stop now
    const w = this.worker;
    if (graceMs <= 0) {
      void w.terminate();
      return;
    }
    if (!this.graceTimer) this.graceTimer = setTimeout(() => void w.terminate(), graceMs);
  }

  get running(): boolean {
    return !this.settled;
  }
}
