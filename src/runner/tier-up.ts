/**
 * V8's tiering for a process of our own (the CLI's). V8 compiles a function with its optimising
 * tier once it has run enough bytecode (the interrupt budget), on background threads. A training
 * step calls most of its functions a few times, so at the default budget they reach it over the
 * run's first two seconds: on two cores, where both run the batch split, each of those compile
 * jobs takes the core that one of the split's threads needs, and that thread waits a scheduler
 * tick (~4 ms) while the other spins at the barrier. A W3 run split on both threads spent ~1.1 s
 * of CPU compiling either way; at a budget of 8 KiB instead of 66 it was done by ~1.25 s instead
 * of ~2.25 s, and the split's steps over 2 ms went from 10–20 per 250 ms until 2.25 s to 0–3 from
 * 1.5 s on (docs/performance.md). V8 flags are the process's, so the extension host (shared with
 * every other extension) keeps its own; only the CLI, whose process is ours, sets this.
 */
import { setFlagsFromString } from 'node:v8';

/** The budget (bytes of bytecode run) before a function is considered for optimisation. */
const INTERRUPT_BUDGET = 8 * 1024;

/** Lets the functions a run calls reach V8's optimising tier sooner; call before the run starts. */
export function earlyTierUp(): void {
  setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
}
