/**
 * A comparison's verdict in words, one line per init: the loss its run reached, and how far the
 * signal got at init (the analysis's measured pass: the first hidden layer whose Var(z) left
 * [0.1, 10]× the input's, or "kept to layer N"); the init that trains is marked (the signal kept first, then the larger
 * relative drop of the loss). Read off the events, like the charts.
 */
import type { Series, StoreState } from './store';
import { shortNumber as fmt } from './charts/base';

interface Line {
  label: string;
  text: string;
  kept: boolean;
  drop: number;
}

function line(ser: Series, first: number | undefined): Line | null {
  const st = ser.latest;
  if (!st) return null;
  // the signal at init: the analysis's measured pass where the comparison has one, else this step
  const a = ser.analysis;
  const q0 = a ? a.inputVar : (st.inputVar ?? 1);
  const vars = a
    ? a.layers.map((l) => ({ index: l.index, v: l.measured?.preactVar ?? l.predicted.preactVar }))
    : st.layers.map((l) => ({ index: l.index, v: l.preact.var }));
  const hidden = vars.slice(0, -1);
  const lost = hidden.find((l) => !(l.v / q0 >= 0.1 && l.v / q0 <= 10));
  const signal = lost
    ? `signal ${fmt(lost.v / q0)} of the input's variance at layer ${lost.index}${a ? ' at init' : ''}`
    : `signal kept to layer ${hidden.length}${a ? ' at init' : ''}`;
  const f = first ?? st.loss;
  return {
    label: ser.label,
    text: `${ser.label}: loss ${fmt(st.loss)} at step ${st.step}; ${signal}`,
    kept: !lost,
    drop: (f - st.loss) / f,
  };
}

export class Verdict {
  readonly box: HTMLElement;
  private readonly list: HTMLElement;

  constructor(parent: HTMLElement) {
    this.box = document.createElement('section');
    this.box.id = 'verdict';
    this.box.className = 'verdict';
    const h = document.createElement('h3');
    h.textContent = 'Verdict';
    this.list = document.createElement('ul');
    this.box.append(h, this.list);
    parent.appendChild(this.box);
  }

  render(s: StoreState, firstLoss: (ser: Series) => number | undefined): void {
    const lines = s.mode === 'compare' ? s.series.map((x) => line(x, firstLoss(x))).filter((x): x is Line => !!x) : [];
    this.box.hidden = lines.length < 2;
    if (lines.length < 2) return;
    const best = lines.reduce((a, b) => (b.kept !== a.kept ? (b.kept ? b : a) : b.drop > a.drop ? b : a));
    this.list.replaceChildren(
      ...lines.map((l) => {
        const li = document.createElement('li');
        li.textContent = `${l === best ? '✓ ' : ''}${l.text}`;
        if (l === best) li.className = 'best';
        return li;
      }),
    );
  }
}
