/** The Getting Started walkthrough: what its steps point at exists, and ships in the .vsix. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../helpers/cli';
import { interpretModel } from '../../src/modelfile/interpret';

interface Step {
  id: string;
  title: string;
  description: string;
  media: { markdown?: string; image?: string };
  completionEvents?: string[];
}
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  contributes: {
    commands: { command: string }[];
    views: Record<string, { id: string }[]>;
    walkthroughs: { id: string; steps: Step[] }[];
  };
};
const { commands, views, walkthroughs } = manifest.contributes;
const viewIds = new Set(Object.values(views).flatMap((vs) => vs.map((v) => v.id)));
/** A command a step may run: one the extension contributes, or the focus command VS Code makes for each of its views. */
const known = (c: string) =>
  commands.some((x) => x.command === c) || (c.endsWith('.focus') && viewIds.has(c.slice(0, -6)));

test('every walkthrough step links a command the extension has, completes on an event of it, and has its page', () => {
  assert.equal(walkthroughs.length, 1);
  const steps = walkthroughs[0]!.steps;
  assert.ok(steps.length >= 4);
  for (const s of steps) {
    const links = [...s.description.matchAll(/\]\(command:([\w.]+)\)/g)].map((m) => m[1]!);
    assert.equal(links.length, 1, `${s.id}: one button`);
    for (const c of links) assert.ok(known(c), `${s.id}: command ${c}`);
    assert.ok(s.completionEvents?.length, `${s.id}: completes`);
    for (const e of s.completionEvents!) {
      const [kind, what] = e.split(':') as [string, string];
      if (kind === 'onCommand') assert.ok(known(what), `${s.id}: ${e}`);
      else if (kind === 'onView') assert.ok(viewIds.has(what), `${s.id}: ${e}`);
      else assert.fail(`${s.id}: ${e}`);
    }
    const page = s.media.markdown;
    assert.ok(page, `${s.id}: a page`);
    const text = fs.readFileSync(path.join(ROOT, page), 'utf8');
    assert.match(text, /^# \S/, `${page}: a heading`);
    assert.doesNotMatch(text, /\]\((?!https?:|command:)/, `${page}: no link to a file the .vsix does not hold`);
  }
  // the pages ship: .vscodeignore lets them in, and the .vsix check allows them
  assert.match(fs.readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8'), /^!media\/walkthrough\/\*\*$/m);
  assert.match(fs.readFileSync(path.join(ROOT, 'scripts', 'check-vsix.mjs'), 'utf8'), /walkthrough/);
});

test("the walkthrough's model file is one the reader takes, with the inits it says", () => {
  const page = fs.readFileSync(path.join(ROOT, 'media', 'walkthrough', 'model.md'), 'utf8');
  const model = /```jsonc\n([\s\S]*?)```/.exec(page)?.[1];
  assert.ok(model);
  const r = interpretModel(model);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(
    r.draft?.layers.map((l) => [l.units, l.activation, l.init.scheme]),
    [
      [64, 'relu', 'he_normal'],
      [64, 'relu', 'he_normal'],
      [5, 'linear', 'xavier_uniform'],
    ],
  );
});
