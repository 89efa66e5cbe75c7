/**
 * The warnings list: severity, layer, step, message and fix. Clicking one asks the host to reveal
 * the layer in the model file; in a PyTorch run, the line of the user's code that creates the
 * layer's module where the log names it (and nothing where it does not: the model file open in the
 * editor is not that run's model).
 */
import type { StartEvent, WarningEvent } from '../src/protocol/events';
import { layerLabel } from '../src/protocol/events';
import type { StoreState } from './store';

/** Where a click on a warning leads. */
type RevealTarget = { layer: number } | { file: string; line: number };

export class WarningsList {
  readonly box: HTMLElement;
  private readonly list: HTMLElement;
  private readonly heading: HTMLElement;
  private shown = '';
  private lists: readonly WarningEvent[][] = [];

  constructor(
    parent: HTMLElement,
    private readonly onReveal: ((target: RevealTarget) => void) | null,
  ) {
    this.box = document.createElement('section');
    this.box.id = 'warnings';
    this.box.className = 'warnings';
    this.heading = document.createElement('h3');
    this.list = document.createElement('ul');
    this.box.append(this.heading, this.list);
    parent.appendChild(this.box);
  }

  render(s: StoreState): void {
    const all: { series: string; start: StartEvent | null; w: WarningEvent }[] = [];
    for (const ser of s.series) for (const w of ser.warnings) all.push({ series: ser.label, start: ser.start, w });
    // warnings are only appended to a series' list, which a reset replaces: the lists and their
    // lengths say whether anything changed (an edit can change a warning's layer or text and
    // neither the count nor the labels)
    const key = `${s.mode}:${s.series.map((x) => `${x.label}:${x.warnings.length}`).join('|')}`;
    const lists = s.series.map((x) => x.warnings);
    if (key === this.shown && lists.length === this.lists.length && lists.every((l, i) => l === this.lists[i])) return;
    this.shown = key;
    this.lists = lists;
    const rank = { error: 0, warning: 1, info: 2 } as const;
    all.sort((a, b) => rank[a.w.severity] - rank[b.w.severity] || (a.w.step ?? -1) - (b.w.step ?? -1));
    this.heading.textContent = all.length ? `Warnings (${all.length})` : 'Warnings — none';
    this.list.replaceChildren(
      ...all.map(({ series, start, w }) => this.item(w, s.series.length > 1 ? series : null, start)),
    );
  }

  private item(w: WarningEvent, series: string | null, start: StartEvent | null): HTMLElement {
    const li = document.createElement('li');
    li.className = `warning ${w.severity}`;
    li.dataset.code = w.code;
    const head = document.createElement('div');
    head.className = 'warning-head';
    const sev = document.createElement('vscode-badge');
    sev.setAttribute('variant', w.severity === 'error' ? 'counter' : 'default');
    sev.textContent = w.severity;
    const where = document.createElement('span');
    where.className = 'where';
    where.textContent = [
      series,
      w.code,
      w.layer !== null ? layerLabel(start, w.layer) : '',
      w.step !== null ? `step ${w.step}` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    head.append(sev, where);
    const msg = document.createElement('div');
    msg.className = 'message';
    msg.textContent = w.message;
    const fix = document.createElement('div');
    fix.className = 'fix';
    fix.textContent = `Fix: ${w.fix}`;
    li.append(head, msg, fix);
    const target = w.layer === null ? null : revealTarget(start, w.layer);
    const onReveal = this.onReveal;
    if (target && onReveal) {
      li.tabIndex = 0;
      li.title =
        'file' in target
          ? `Open ${target.file.split(/[\\/]/).pop()}:${target.line}, where ${start?.modules?.[w.layer!]?.name} is created`
          : `Reveal layer ${target.layer} in the model file`;
      li.addEventListener('click', () => onReveal(target));
      li.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') onReveal(target);
      });
    }
    return li;
  }
}

/** A layer of our own run: its place in the model file; of a PyTorch run: its module's line, if known. */
function revealTarget(start: StartEvent | null, layer: number): RevealTarget | null {
  if (start?.source !== 'pytorch') return { layer };
  const m = start.modules?.[layer];
  return m?.file !== undefined && m.line !== undefined ? { file: m.file, line: m.line } : null;
}
