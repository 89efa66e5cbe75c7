/**
 * The line under the title while the panel follows a training log: which file, what wrote it (a
 * PyTorch run, over how many processes), how far it is, and how it ended; read off the events,
 * like the charts.
 */
import type { Series, StoreState } from './store';

const ENDED: Record<string, string> = {
  completed: 'completed',
  non_finite: 'stopped at NaN/Inf',
  stopped: 'stopped',
};

/** The text of the log line, and whether it calls for attention (stalled, malformed lines, NaN/Inf). */
export function logStatus(
  log: NonNullable<StoreState['log']>,
  run: Series | undefined,
): { text: string; alert: boolean } {
  const parts = [`Following ${log.file}`];
  const start = run?.start;
  if (start?.source === 'pytorch') {
    const world = start.worldSize ?? 1;
    parts.push(world > 1 ? `PyTorch on ${world} processes (the global batch)` : 'PyTorch');
  }
  const end = run?.end;
  if (end) parts.push(`ended: ${ENDED[end.reason] ?? end.reason}, ${end.steps} step${end.steps === 1 ? '' : 's'}`);
  else if (run?.latest) parts.push(`step ${run.latest.step}`);
  if (log.malformed > 0) parts.push(`${log.malformed} malformed line${log.malformed === 1 ? '' : 's'} skipped`);
  if (log.stalled && !end) parts.push('stalled: no new line for a while and no end');
  return {
    text: parts.join(' · '),
    alert: (log.stalled && !end) || log.malformed > 0 || end?.reason === 'non_finite',
  };
}
