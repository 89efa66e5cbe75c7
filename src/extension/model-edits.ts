/**
 * Where things are in a model file's text, and the text edits of the quick fixes. Pure: works on
 * the positioned JSON tree, knows nothing of VS Code (offsets in, offsets out).
 */
import type { ActivationName } from '../protocol/events';
import { suitedInit } from '../protocol/events';
import type { JsonNode, JsonObject } from '../modelfile/jsonc';
import { parseJsonc, prop } from '../modelfile/jsonc';
import { initReads } from '../modelfile/init-fields';

interface Span {
  start: number;
  end: number;
}
export interface TextEdit {
  start: number;
  end: number;
  text: string;
}

function obj(n: JsonNode | undefined): JsonObject | undefined {
  return n?.kind === 'object' ? n : undefined;
}

export class ModelText {
  readonly root: JsonObject | null;
  /** Offset of the text after a BOM within the original text (0 or 1). */
  readonly bom: number;

  constructor(readonly text: string) {
    const r = parseJsonc(text);
    this.bom = text.charCodeAt(0) === 0xfeff ? 1 : 0;
    this.root = r.ok && r.root.kind === 'object' ? r.root : null;
  }

  private span(n: { start: number; end: number } | undefined): Span | null {
    return n ? { start: n.start + this.bom, end: n.end + this.bom } : null;
  }

  layer(i: number): JsonObject | undefined {
    const layers = this.root ? prop(this.root, 'layers')?.value : undefined;
    return layers?.kind === 'array' ? obj(layers.items[i]) : undefined;
  }

  /** Index of the layer whose object contains the offset, or null. */
  layerAt(offset: number): number | null {
    const layers = this.root ? prop(this.root, 'layers')?.value : undefined;
    if (layers?.kind !== 'array') return null;
    const i = layers.items.findIndex((n) => n.start + this.bom <= offset && offset < n.end + this.bom);
    return i >= 0 ? i : null;
  }

  /** The layer object's span. */
  layerSpan(i: number): Span | null {
    return this.span(this.layer(i));
  }

  /** The span of a layer field's value (e.g. "init", "activation"), else of the layer object. */
  layerField(i: number, key: string): Span | null {
    const l = this.layer(i);
    if (!l) return null;
    return this.span(prop(l, key)?.value ?? l);
  }

  training(): JsonObject | undefined {
    return this.root ? obj(prop(this.root, 'training')?.value) : undefined;
  }

  trainingField(key: string): Span | null {
    const t = this.training();
    return this.span(t ? (prop(t, key)?.value ?? t) : (this.root ?? undefined));
  }

  /** Sets a string or number field of an object (replacing its value, or inserting it first). */
  private setField(o: JsonObject, key: string, json: string): TextEdit {
    const p = prop(o, key);
    if (p) return { start: p.value.start + this.bom, end: p.value.end + this.bom, text: json };
    const at = o.start + 1 + this.bom;
    return { start: at, end: at, text: ` ${JSON.stringify(key)}: ${json}${o.props.length ? ',' : ' '}` };
  }

  /**
   * "init" of layer i becomes `scheme`. An object init keeps the fields the new scheme reads: its
   * `mode` (he_*, lecun_*), and its `gain` where the old scheme read it too; fields only the old
   * one read (normal's mean and std, uniform's low and high, …) go, and with nothing left to keep
   * the init becomes the scheme's name.
   */
  setInit(i: number, scheme: string): TextEdit | null {
    const l = this.layer(i);
    if (!l) return null;
    const init = prop(l, 'init')?.value;
    if (init?.kind !== 'object') return this.setField(l, 'init', JSON.stringify(scheme));
    const old = prop(init, 'scheme')?.value;
    const oldScheme = old?.kind === 'string' ? old.value : '';
    const keeps = (key: string): boolean =>
      key === 'mode'
        ? initReads(scheme, 'mode')
        : key === 'gain' && initReads(scheme, 'gain') && initReads(oldScheme, 'gain');
    const others = init.props.filter((p) => p.key !== 'scheme');
    const kept = others.filter((p) => keeps(p.key));
    if (kept.length === others.length) return this.setField(init, 'scheme', JSON.stringify(scheme));
    const fields = kept.map(
      (p) => `${JSON.stringify(p.key)}: ${this.text.slice(p.value.start + this.bom, p.value.end + this.bom)}`,
    );
    const text = fields.length
      ? `{ "scheme": ${JSON.stringify(scheme)}, ${fields.join(', ')} }`
      : JSON.stringify(scheme);
    return { start: init.start + this.bom, end: init.end + this.bom, text };
  }

  /** "bias" of layer i becomes `value` (a constant). */
  setBias(i: number, value: number): TextEdit | null {
    const l = this.layer(i);
    return l ? this.setField(l, 'bias', String(value)) : null;
  }

  /** The init scheme layer i's file gives: its "init" string or that object's "scheme"; null without. */
  initScheme(i: number): string | null {
    const l = this.layer(i);
    const init = l ? prop(l, 'init')?.value : undefined;
    const v = init?.kind === 'object' ? prop(init, 'scheme')?.value : init;
    return v?.kind === 'string' ? v.value : null;
  }

  setActivation(i: number, activation: string): TextEdit | null {
    const l = this.layer(i);
    return l ? this.setField(l, 'activation', JSON.stringify(activation)) : null;
  }

  /** training.learningRate ← value (training created when absent). */
  setLearningRate(value: number): TextEdit | null {
    return this.setTraining('learningRate', formatNumber(value));
  }

  /** training.steps ← n. */
  setSteps(n: number): TextEdit | null {
    return this.setTraining('steps', String(Math.max(1, Math.round(n))));
  }

  /** training.clip ← {mode: norm, max} (replacing an existing clip). */
  setClip(max: number): TextEdit | null {
    return this.setTraining('clip', `{ "mode": "norm", "max": ${formatNumber(max)} }`);
  }

  currentClipMax(): number | null {
    const c = obj(this.training() ? prop(this.training()!, 'clip')?.value : undefined);
    const m = c ? prop(c, 'max')?.value : undefined;
    return m?.kind === 'number' ? m.value : null;
  }

  currentLearningRate(): number | null {
    const t = this.training();
    const v = t ? prop(t, 'learningRate')?.value : undefined;
    return v?.kind === 'number' ? v.value : null;
  }

  private setTraining(key: string, json: string): TextEdit | null {
    if (!this.root) return null;
    const t = this.training();
    if (t) return this.setField(t, key, json);
    return this.setField(this.root, 'training', `{ ${JSON.stringify(key)}: ${json} }`);
  }
}

/** A number as a model file would write it: short, no float noise. */
function formatNumber(x: number): string {
  return String(Number(x.toPrecision(6)));
}

/**
 * The one init scheme every layer of a model file uses (a layer without one gets the default the
 * reader gives it: he_normal under ReLU-like activations, else xavier_uniform), or null when the
 * layers differ or one sets a gain, mode or other parameter (its run would differ from the scheme's).
 */
export function fileScheme(text: string): string | null {
  const m = new ModelText(text);
  let scheme: string | null = null;
  for (let i = 0; ; i++) {
    const l = m.layer(i);
    if (!l) return scheme;
    const get = (k: string) => l.props.find((p) => p.key === k)?.value;
    const act = get('activation');
    const init = get('init');
    let s: string | null;
    if (!init) s = suitedInit((act?.kind === 'string' ? act.value : 'linear') as ActivationName);
    else if (init.kind === 'string') s = init.value;
    else if (init.kind === 'object' && init.props.length === 1 && init.props[0]!.key === 'scheme') {
      const v = init.props[0]!.value;
      s = v.kind === 'string' ? v.value : null;
    } else s = null;
    if (s === null || (scheme !== null && s !== scheme)) return null;
    scheme = s;
  }
}
