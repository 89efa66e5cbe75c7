/**
 * The CSV reader, whole: what it accepts (RFC 4180 quoting, CRLF and lone CR, BOM, blank lines,
 * the target column by name or index), where each problem is (line and column, pinned, not only
 * the message), each problem reported once, and the limits (problem cap, stop requests, growth).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCsv } from '../../src/modelfile/csv';
import { Stopped } from '../../src/core/data';

type Opts = Parameters<typeof parseCsv>[1];
const base: Opts = { header: true, target: null, task: 'regression', classes: 0, inputSize: 2 };

function ok(text: string, opts: Partial<Opts> = {}) {
  const r = parseCsv(text, { ...base, ...opts });
  if (!r.ok) assert.fail(`expected the CSV to read, got ${JSON.stringify(r.problems)}`);
  return { columns: r.columns, ...r.dataset, x: [...r.dataset.x], y: [...r.dataset.y] };
}

function problems(text: string, opts: Partial<Opts> = {}) {
  const r = parseCsv(text, { ...base, ...opts });
  if (r.ok) assert.fail('expected problems');
  return r.problems;
}

const p = (line: number, col: number, message: string) => ({ line, col, message });
const field = (message: string) => ({ line: 1, col: 1, modelField: 'target' as const, message });
// where data.target is not set and the last column holds no class indices, the model file's
// data field says which column was taken, and how to name another
const defaulted = (name: string) =>
  field(
    `data.target is not set, so the last column, "${name}", is the target; if the class indices are in another column, name it in data.target`,
  );

test('CSV: the last column is the target by default; the others are the inputs in order', () => {
  assert.deepEqual(ok('a,b,y\n1,2,3\n4,5,6\n'), {
    columns: ['a', 'b', 'y'],
    samples: 2,
    inputSize: 2,
    x: [1, 2, 4, 5],
    y: [3, 6],
    targetSize: 1,
  });
});

test('CSV: the target by name (anywhere) or by 0-based index, with or without a header', () => {
  assert.deepEqual(ok('a,b,c\n1,2,3\n', { target: 'b' }).x, [1, 3]);
  assert.deepEqual(ok('a,b,c\n1,2,3\n', { target: 'b' }).y, [2]);
  assert.deepEqual(ok(' a , b ,c\n1,2,3\n', { target: 'b' }).columns, ['a', 'b', 'c']); // names trimmed
  const nh = ok('5,1,2\n6,3,4\n', { header: false, target: 0 });
  assert.deepEqual([nh.columns, nh.x, nh.y, nh.samples], [['0', '1', '2'], [1, 2, 3, 4], [5, 6], 2]);
  assert.deepEqual(ok('1,2,5\n', { header: false, target: 2 }).y, [5]);
});

test('CSV: a target that does not exist is reported at the model file’s target field', () => {
  assert.deepEqual(problems('a,b,y\n1,2,3\n', { target: 3 }), [
    field('target column 3 does not exist; the CSV has 3 columns (0 to 2)'),
  ]);
  assert.deepEqual(problems('1,2,3\n', { header: false, target: 'y' }), [
    field('target "y" names a column, but data.header is false; give its 0-based index'),
  ]);
  assert.deepEqual(problems('a,b,y\n1,2,3\n', { target: 'Y' }), [
    field('no column "Y" in the CSV header; columns: a, b, y (did you mean "y"?)'),
  ]);
  assert.deepEqual(problems('a,b,y\n1,2,3\n', { target: 'z' }), [
    field('no column "z" in the CSV header; columns: a, b, y'),
  ]);
});

test('CSV: at least two columns; input.size must equal the feature columns, named', () => {
  assert.deepEqual(problems('a\n1\n'), [p(1, 1, 'the CSV needs at least 2 columns (features and a target), found 1')]);
  assert.deepEqual(problems('\n\na\n1\n'), [
    p(3, 1, 'the CSV needs at least 2 columns (features and a target), found 1'),
  ]);
  assert.deepEqual(ok('a,y\n1,2\n', { inputSize: 1 }).x, [1]);
  const size = (message: string) => ({ line: 1, col: 1, modelField: 'inputSize' as const, message });
  assert.deepEqual(problems('a,b,y\n1,2,3\n', { inputSize: 3 }), [
    size('input.size is 3, but the CSV has 2 feature columns (a, b); make them equal'),
  ]);
  assert.deepEqual(problems('a,y\n1,2\n', { inputSize: 2 }), [
    size('input.size is 2, but the CSV has 1 feature column (a); make them equal'),
  ]);
  assert.deepEqual(problems('a,t,b\n1,2,3\n', { inputSize: 3, target: 't' }), [
    size('input.size is 3, but the CSV has 2 feature columns (a, b); make them equal'),
  ]);
  assert.deepEqual(problems('1,2,3\n', { header: false, inputSize: 1 }), [
    size('input.size is 1, but the CSV has 2 feature columns (2 columns); make them equal'),
  ]);
});

test('CSV: rows of the wrong width, each at its line, naming the header line', () => {
  assert.deepEqual(problems('a,b,y\n1,2\n1,2,3,4\n7\n'), [
    p(2, 1, 'row has 2 fields, expected 3 (header at line 1)'),
    p(3, 1, 'row has 4 fields, expected 3 (header at line 1)'),
    p(4, 1, 'row has 1 field, expected 3 (header at line 1)'),
  ]);
  assert.deepEqual(problems('\n\na,b,y\n\n1,2\n'), [p(5, 1, 'row has 2 fields, expected 3 (header at line 3)')]);
  assert.deepEqual(problems('1,2,3\n1,2\n', { header: false }), [p(2, 1, 'row has 2 fields, expected 3')]);
});

test('CSV: cells that are not numbers, at their line and column, with their text', () => {
  const long = 'x'.repeat(31);
  const thirty = 'y'.repeat(30);
  assert.deepEqual(problems(`a,b,y\n1,x,3\n,2,3\n1,${long},3\n1,${thirty},3\n 1 , 0x10 ,3\n1,2,1e999\n`), [
    p(2, 3, '"x" in column "b" is not a number'),
    p(3, 1, 'an empty cell in column "a" is not a number'),
    p(4, 3, `"${'x'.repeat(30)}…" in column "b" is not a number`),
    p(5, 3, `"${thirty}" in column "b" is not a number`),
    p(6, 5, '"0x10" in column "b" is not a number'),
    p(7, 5, '"1e999" in column "y" is not a number'),
  ]);
  assert.deepEqual(problems('1,NaN,3\n', { header: false }), [p(1, 3, '"NaN" in column 1 is not a number')]);
  for (const bad of ['Infinity', '-Infinity', '1,5', '1.2.3', 'e5', '+', '.', '--1', '1e', '١'])
    assert.equal(problems(`a,b,y\n1,"${bad}",3\n`).length, 1, bad);
  // every decimal form JavaScript reads the same way
  const good = ['+1.5', '.5', '5.', '1e-3', '-2E+2', ' 4 ', '007', '-0'];
  const r = ok(`a,b,y\n${good.map((g) => `1,${g},0`).join('\n')}\n`);
  assert.deepEqual(
    r.x.filter((_, i) => i % 2 === 1),
    [1.5, 0.5, 5, 1e-3, -200, 4, 7, -0],
  );
});

test('CSV: class indices must be integers in [0, classes) for classification, not for regression', () => {
  const cls = { task: 'classification' as const, classes: 3 };
  assert.deepEqual(ok('a,b,y\n1,2,0\n1,2,2\n', cls).y, [0, 2]);
  assert.deepEqual(problems('a,b,y\n1,2,1.5\n1,2,3\n1,2,-1\n1,2,2.0\n', cls), [
    defaulted('y'),
    p(2, 5, 'class index 1.5 in column "y" is not an integer; cross_entropy needs class indices 0 to 2'),
    p(3, 5, 'class index 3 in column "y" is out of range; the output layer has 3 units, so classes are 0 to 2'),
    p(4, 5, 'class index -1 in column "y" is out of range; the output layer has 3 units, so classes are 0 to 2'),
  ]);
  assert.deepEqual(ok('a,b,y\n1,2,1.5\n1,2,-7\n').y, [1.5, -7]);
  // class names where indices belong: the way out is said (a feature column's name is just not a number)
  assert.deepEqual(problems('a,b,species\n1,2,setosa\nx,2,0\n', cls), [
    defaulted('species'),
    p(
      2,
      5,
      '"setosa" in column "species" is not a number; cross_entropy needs class indices 0 to 2 there: write each class name as its index (e.g. with sklearn\'s LabelEncoder)',
    ),
    p(3, 1, '"x" in column "a" is not a number'),
  ]);
  // the target column can be any column
  assert.deepEqual(problems('y,a,b\n9,1,2\n', { ...cls, target: 'y' }), [
    p(2, 1, 'class index 9 in column "y" is out of range; the output layer has 3 units, so classes are 0 to 2'),
  ]);
});

test('CSV: a class column left out of data.target: the default taken is said once, at the model file', () => {
  const cls = { task: 'classification' as const, classes: 3 };
  const flowers = 'len,species,wid\n5.0,0,0.55\n5.8,1,1.36\n6.1,2,1.99\n';
  const got = problems(flowers, cls);
  assert.deepEqual(got[0], defaulted('wid'));
  assert.equal(got.filter((q) => 'modelField' in q).length, 1);
  assert.equal(got.length, 4); // the note, then each cell at its place
  assert.deepEqual(
    got[1],
    p(2, 7, 'class index 0.55 in column "wid" is not an integer; cross_entropy needs class indices 0 to 2'),
  );
  // named: no note; without a header the note names the column by its index
  assert.ok(!problems(flowers, { ...cls, target: 'wid' }).some((q) => 'modelField' in q));
  assert.deepEqual(problems('5.0,0,0.55\n', { ...cls, header: false })[0], defaulted('2'));
  // regression targets are any number: nothing to say
  assert.deepEqual(ok(flowers).y, [0.55, 1.36, 1.99]);
});

test('CSV: quoting per RFC 4180, line breaks inside quotes counted as editors count them', () => {
  assert.deepEqual(ok('"a""b",b,y\n"1","2","3"\n').columns, ['a"b', 'b', 'y']);
  for (const nl of ['\n', '\r\n', '\r']) {
    const text = `a,b,y${nl}"1${nl}",2,3${nl}4,x,6${nl}`;
    assert.deepEqual(problems(text), [p(4, 3, '"x" in column "b" is not a number')], JSON.stringify(nl));
    assert.deepEqual(ok(`a,b,y${nl}"1${nl}",2,3${nl}`).x, [1, 2], JSON.stringify(nl));
  }
  // an empty quoted field is an empty cell
  assert.deepEqual(problems('a,b,y\n1,"",3\n'), [p(2, 3, 'an empty cell in column "b" is not a number')]);
});

test('CSV: a quote left open, and a character after a closing quote, each reported once at its column', () => {
  assert.deepEqual(problems('a,b,y\n1,"2,3\n4,5,6\n'), [p(2, 3, 'unterminated quoted field')]);
  assert.deepEqual(problems('a,b,y\n"1"x,2,3\r\n4,y,6\n'), [
    p(2, 4, 'unexpected character after a closing quote; expected "," or the end of the line'),
    p(3, 3, '"y" in column "b" is not a number'),
  ]);
  assert.deepEqual(problems('a,b,y\n1,2,"3" \r4,5,6\n'), [
    p(2, 8, 'unexpected character after a closing quote; expected "," or the end of the line'),
  ]);
  // a BOM is not a column
  assert.deepEqual(problems('\uFEFF"a"x,b,y\n'), [
    p(1, 4, 'unexpected character after a closing quote; expected "," or the end of the line'),
  ]);
  assert.deepEqual(ok('\uFEFFa,b,y\n1,2,3\n').columns, ['a', 'b', 'y']);
});

test('CSV: blank lines are skipped, a line of commas is not blank; empty files and header-only files are named', () => {
  assert.deepEqual(ok('a,b,y\n\n   \n1,2,3\n\r\n4,5,6').y, [3, 6]);
  assert.deepEqual(problems('a,b,y\n,,\n'), [
    p(2, 1, 'an empty cell in column "a" is not a number'),
    p(2, 2, 'an empty cell in column "b" is not a number'),
    p(2, 3, 'an empty cell in column "y" is not a number'),
  ]);
  const empty = [p(1, 1, 'the CSV file is empty; it needs a header row and at least one data row')];
  assert.deepEqual(problems(''), empty);
  assert.deepEqual(problems('\n \n\r\n'), empty);
  assert.deepEqual(problems('\n\na,b,y\n\n'), [p(3, 1, 'the CSV has a header but no data rows')]);
});

test('CSV: problems stop at maxProblems (20 by default), within a row too', () => {
  const rows = Array.from({ length: 30 }, () => '1,x,3').join('\n');
  assert.equal(problems(`a,b,y\n${rows}\n`).length, 20);
  assert.deepEqual(
    problems(`a,b,y\n${rows}\n`, { maxProblems: 2 }).map((q) => q.line),
    [2, 3],
  );
  assert.deepEqual(problems('a,b,y\nx,x,x\n', { maxProblems: 2 }), [
    p(2, 1, '"x" in column "a" is not a number'),
    p(2, 3, '"x" in column "b" is not a number'),
  ]);
  assert.deepEqual(problems('a,b,y\n1,2\n1\n1,2,3,4\n', { maxProblems: 2 }).length, 2);
  assert.deepEqual(problems('a,b,y\n"1"x,2,3\n"1"x,2,3\n"1"x,2,3\n', { maxProblems: 2 }).length, 2);
  const cls = { task: 'classification' as const, classes: 2, maxProblems: 1 };
  assert.equal(problems('a,b,y\n1,2,0.5\n1,2,0.5\n', cls).length, 1);
  assert.equal(problems('a,b,y\n1,2,5\n1,2,5\n', cls).length, 1);
  // (the note that data.target was not set comes first, within the cap)
  assert.deepEqual(
    problems('a,b,y\n1,2,0.5\n1,2,5\n', { ...cls, maxProblems: 5 }).map((q) => q.line),
    [1, 2, 3],
  );
  assert.deepEqual(problems('a,b,y\n1,2,0.5\n1,2,5\n', { ...cls, target: 'y', maxProblems: 5 }).length, 2);
});

test('CSV: many rows grow the arrays with every value kept; a stop request is asked every 4096 records', () => {
  const n = 5000;
  const text = 'a,b,y\n' + Array.from({ length: n }, (_, i) => `${i},${i + 0.5},${2 * i}`).join('\n');
  let asked = 0;
  const r = ok(text, {
    shouldStop: () => {
      asked++;
      return false;
    },
  });
  assert.equal(r.samples, n);
  assert.equal(r.x.length, 2 * n);
  assert.equal(r.y.length, n);
  for (const i of [0, 1023, 1024, 2047, 2048, 4095, 4096, n - 1]) {
    assert.deepEqual([r.x[2 * i], r.x[2 * i + 1], r.y[i]], [i, i + 0.5, 2 * i], `row ${i}`);
  }
  assert.equal(asked, 1); // 5001 records: asked at the 4096th
  assert.throws(() => parseCsv(text, { ...base, shouldStop: () => true }), Stopped);
  // 4095 records: never asked
  let none = 0;
  ok('a,b,y\n' + Array.from({ length: 4094 }, () => '1,2,3').join('\n'), { shouldStop: () => (none++, false) });
  assert.equal(none, 0);
});

test('CSV edges the mutation run found: number forms, CR endings after quotes, class errors before other cells', () => {
  // every digit count JavaScript reads: .25, an unsigned exponent, a two-digit one
  assert.deepEqual(ok('a,b,y\n.25,1e5,2e10\n').x, [0.25, 1e5]);
  assert.deepEqual(ok('a,b,y\n.25,1e5,2e10\n').y, [2e10]);
  // a quoted last field before CRLF, and before a lone CR
  assert.deepEqual(ok('a,b,y\r\n"1","2","3"\r\n"4","5","6"\r').y, [3, 6]);
  // after a bad closing quote, the rest of that line only is skipped (lone CR endings too)
  assert.deepEqual(problems('a,b,y\r"1"x,2,3\r4,y,6\r'), [
    p(2, 4, 'unexpected character after a closing quote; expected "," or the end of the line'),
    p(3, 3, '"y" in column "b" is not a number'),
  ]);
  // a class error in a first column does not hide the next cell's error, and stops at the cap
  const cls = { task: 'classification' as const, classes: 3, target: 0 };
  assert.deepEqual(
    problems('y,a,b\n9,x,2\n0.5,x,2\n', cls).map((q) => [q.line, q.col]),
    [
      [2, 1],
      [2, 3],
      [3, 1],
      [3, 5],
    ],
  );
  assert.equal(problems('y,a,b\n9,x,2\n', { ...cls, maxProblems: 1 }).length, 1);
  assert.equal(problems('y,a,b\n0.5,x,2\n', { ...cls, maxProblems: 1 }).length, 1);
  // a long file without a stop callback reads; the stop message says where it stopped
  const rows = 'a,b,y\n' + Array.from({ length: 5000 }, () => '1,2,3').join('\n');
  assert.equal(ok(rows).samples, 5000);
  assert.throws(
    () => parseCsv(rows, { ...base, shouldStop: () => true }),
    (e) => e instanceof Stopped && e.message === 'stopped while reading the CSV',
  );
});

test('CSV: a quoted last field at the end of the file (no line break after it)', () => {
  assert.deepEqual(ok('a,b,y\n1,2,"3"').y, [3]);
  assert.deepEqual(ok('"a","b","y"\n"1","2","3"').x, [1, 2]);
});
