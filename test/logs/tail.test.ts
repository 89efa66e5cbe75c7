/** LogTail: whole lines only, UTF-8 split across reads, truncation, replacement and rewrites. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogTail, MAX_LINE_BYTES } from '../../src/logs/tail';

function setup(): { file: string; lines: [string, number][]; restarts: string[]; overlong: number[]; tail: LogTail } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-tail-'));
  const file = path.join(dir, 'a.layerwise.jsonl');
  fs.writeFileSync(file, '');
  const lines: [string, number][] = [],
    restarts: string[] = [],
    overlong: number[] = [];
  const tail = new LogTail(file, {
    onLine: (l, n) => lines.push([l, n]),
    onRestart: (r) => restarts.push(r),
    onOverlong: (n) => overlong.push(n),
  });
  return { file, lines, restarts, overlong, tail };
}

test('an unterminated last line waits for its newline', () => {
  const t = setup();
  fs.appendFileSync(t.file, '{"a":1}\n{"b":');
  t.tail.poll();
  assert.deepEqual(t.lines, [['{"a":1}', 1]]);
  assert.equal(t.tail.pending, true);
  assert.equal(t.tail.poll(), false, 'nothing new');
  fs.appendFileSync(t.file, '2}\r\n');
  t.tail.poll();
  assert.deepEqual(t.lines, [
    ['{"a":1}', 1],
    ['{"b":2}', 2],
  ]);
  assert.equal(t.tail.pending, false);
});

test('a character split between two reads is decoded whole', () => {
  const t = setup();
  const bytes = Buffer.from('"é→λ"\n', 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    fs.appendFileSync(t.file, bytes.subarray(i, i + 1));
    t.tail.poll();
  }
  assert.deepEqual(t.lines, [['"é→λ"', 1]]);
});

test('a truncated file starts over from line 1', () => {
  const t = setup();
  fs.appendFileSync(t.file, 'one\ntwo\nthree\n');
  t.tail.poll();
  fs.writeFileSync(t.file, 'new\n');
  t.tail.poll();
  assert.deepEqual(t.restarts, ['truncated']);
  assert.deepEqual(t.lines.at(-1), ['new', 1]);
});

test('a file replaced by another (rename over it) starts over', () => {
  const t = setup();
  fs.appendFileSync(t.file, 'one\n');
  t.tail.poll();
  const other = t.file + '.tmp';
  fs.writeFileSync(other, 'first of the new\nsecond of the new\n');
  fs.renameSync(other, t.file);
  t.tail.poll();
  assert.deepEqual(t.restarts, ['replaced']);
  assert.deepEqual(t.lines.slice(1), [
    ['first of the new', 1],
    ['second of the new', 2],
  ]);
});

test('a file rewritten from its start to a larger size is a new file too', () => {
  const t = setup();
  fs.appendFileSync(t.file, '{"type":"start","model":"a"}\n');
  t.tail.poll();
  fs.writeFileSync(t.file, '{"type":"start","model":"b"}\n{"type":"end"}\n');
  t.tail.poll();
  assert.deepEqual(t.restarts, ['replaced']);
  assert.deepEqual(
    t.lines.slice(1).map((x) => x[0]),
    ['{"type":"start","model":"b"}', '{"type":"end"}'],
  );
});

test('a line longer than the cap is dropped whole and reported; the next line is read', () => {
  const t = setup();
  const fd = fs.openSync(t.file, 'a');
  const block = Buffer.alloc(1 << 20, 'x');
  for (let i = 0; i <= MAX_LINE_BYTES / block.length; i++) fs.writeSync(fd, block);
  fs.writeSync(fd, '\nok\n');
  fs.closeSync(fd);
  t.tail.poll();
  assert.deepEqual(t.overlong, [1]);
  assert.deepEqual(t.lines, [['ok', 2]]);
});

test('a missing file throws ENOENT to the caller', () => {
  const tail = new LogTail(path.join(os.tmpdir(), 'no-such-dir-lw', 'x.jsonl'), {
    onLine: () => undefined,
    onRestart: () => undefined,
  });
  assert.throws(() => tail.poll(), /ENOENT/);
});
