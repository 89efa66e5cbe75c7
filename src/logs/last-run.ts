/**
 * The last run in a training log's text, whole, to draw beside another run (an overlay): its events
 * after the last `start`, with the detectors' warnings as `LogFollower` gives them, malformed lines
 * left out (the followed log counts them), histograms left out (an overlay is drawn in the per-run
 * charts only), steps thinned to `maxSteps` as a kept run's are, and the tally of all its steps.
 * Null when the run has no step yet.
 */
import type { LayerwiseEvent } from '../protocol/events';
import { parseEventLine } from '../protocol/parse-event';
import type { Thresholds } from '../core/detectors';
import { StreamDetectors } from '../core/stream-detectors';
import type { StepTally } from '../report/thinning';
import { tallySteps, thinEvents } from '../report/thinning';

export function lastRun(
  text: string,
  thresholds: Partial<Thresholds>,
  maxSteps: number,
): { events: LayerwiseEvent[]; seen: StepTally } | null {
  let events: LayerwiseEvent[] = [];
  let detectors = new StreamDetectors(thresholds);
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const e = parseEventLine(line);
    if ('error' in e) continue;
    if (e.type === 'start') {
      events = [];
      detectors = new StreamDetectors(thresholds);
    }
    if (e.type === 'end') events.push(...detectors.finish());
    events.push(e, ...detectors.observe(e));
  }
  const drawn = events.filter((e) => e.type !== 'histogram');
  if (!drawn.some((e) => e.type === 'step')) return null;
  return { events: thinEvents(drawn, 'step', maxSteps), seen: tallySteps(drawn) };
}
