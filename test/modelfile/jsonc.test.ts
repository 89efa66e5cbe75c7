/**
 * The JSON-with-comments reader, whole: every value kind with its span, comments and trailing
 * commas, and each syntax error with its exact range and message (what the editor underlines and
 * the CLI prints as file:line:col).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonNode, JsonObject } from '../../src/modelfile/jsonc';
import { parseJsonc, prop } from '../../src/modelfile/jsonc';

function root(text: string): JsonNode {
  const r = parseJsonc(text);
  if (!r.ok) assert.fail(`${JSON.stringify(text)}: ${r.error.message}`);
  return r.root;
}

/** The error as [start, end, message]. */
function err(text: string): [number, number, string] {
  const r = parseJsonc(text);
  if (r.ok) assert.fail(`${JSON.stringify(text)} parsed`);
  return [r.error.start, r.error.end, r.error.message];
}

/** Plain JS value of a node (for comparing structure). */
function plain(n: JsonNode): unknown {
  switch (n.kind) {
    case 'object':
      return Object.fromEntries(n.props.map((q) => [q.key, plain(q.value)]));
    case 'array':
      return n.items.map(plain);
    case 'null':
      return null;
    default:
      return n.value;
  }
}

test('jsonc: every kind of value, with spans over the text', () => {
  const text = '{ "k" : [1, 2.5e3, -0, true, false, null, "s\\n", {}, []] , "e": {} }';
  const r = root(text) as JsonObject;
  assert.deepEqual(plain(r), { k: [1, 2500, -0, true, false, null, 's\n', {}, []], e: {} });
  assert.deepEqual([r.kind, r.start, r.end], ['object', 0, text.length]);
  const k = r.props[0]!;
  assert.deepEqual([k.key, k.keySpan], ['k', { start: 2, end: 5 }]);
  const arr = k.value;
  assert.equal(arr.kind, 'array');
  assert.deepEqual([arr.start, arr.end], [8, text.indexOf(']]') + 2]);
  const items = (arr as Extract<JsonNode, { kind: 'array' }>).items;
  const spans = items.map((n) => text.slice(n.start, n.end));
  assert.deepEqual(spans, ['1', '2.5e3', '-0', 'true', 'false', 'null', '"s\\n"', '{}', '[]']);
  assert.deepEqual(items[1], { kind: 'number', value: 2500, raw: '2.5e3', start: 12, end: 17 });
  assert.ok(Object.is((items[2] as { value: number }).value, -0));
  assert.deepEqual(items[3], { kind: 'boolean', value: true, start: 23, end: 27 });
  assert.deepEqual(items[5], { kind: 'null', start: 36, end: 40 });
  assert.deepEqual(plain(root('"top"')), 'top');
  assert.deepEqual(plain(root(' 42 ')), 42);
});

test('jsonc: comments, trailing commas, whitespace of every kind and a BOM', () => {
  const text = '\uFEFF// head\n{\t"a": 1, /* x\n y */ "b": [1, 2,],\r\n // c\n}\n// tail';
  const r = parseJsonc(text);
  assert.ok(r.ok);
  assert.equal(r.text, text.slice(1)); // the BOM dropped: offsets count from after it
  assert.deepEqual(plain(r.root), { a: 1, b: [1, 2] });
  assert.equal(r.root.start, r.text.indexOf('{'));
  assert.deepEqual(plain(root('{"a":1,}')), { a: 1 });
  assert.deepEqual(plain(root('[\uFEFF1]')), [1]); // a stray BOM inside is whitespace, as editors show it
  assert.deepEqual(plain(root('{"a": 1 // to the end of the line\n}')), { a: 1 });
  assert.deepEqual(plain(root('{"a":/**/2}')), { a: 2 });
});

test('jsonc: empty files and text after the value', () => {
  assert.deepEqual(err(''), [0, 0, 'the file is empty; expected a JSON object']);
  assert.deepEqual(err('  // only a comment\n /* and another */ \n'), [
    0,
    0,
    'the file is empty; expected a JSON object',
  ]);
  assert.deepEqual(err('{} x'), [3, 4, 'unexpected "x" after the end of the top-level value']);
  assert.deepEqual(err('{} {}'), [3, 4, 'unexpected "{" after the end of the top-level value']);
  assert.deepEqual(err('{} /* open'), [3, 5, 'unterminated /* comment']);
  assert.deepEqual(err('{} /'), [3, 4, 'unexpected "/" after the end of the top-level value']);
});

test('jsonc: what an unexpected character is called', () => {
  assert.deepEqual(err('\u0001'), [
    0,
    1,
    'unexpected control character U+0001; expected a value (object, array, string, number, true, false or null)',
  ]);
  assert.deepEqual(
    err('[\u007f]')[2],
    'unexpected control character U+007F; expected a value (object, array, string, number, true, false or null)',
  );
  assert.deepEqual(err('[\u001f]')[2].slice(0, 40), 'unexpected control character U+001F; exp');
  assert.deepEqual(
    err('[\uFFFD]')[2],
    'unexpected invalid byte (the file is not UTF-8 text); expected a value (object, array, string, number, true, false or null)',
  );
  assert.deepEqual(
    err('[yes_2 ]')[2],
    'unexpected "yes_2"; expected a value (object, array, string, number, true, false or null)',
  );
  assert.deepEqual(
    err(`[${'w'.repeat(40)}]`)[2],
    `unexpected "${'w'.repeat(32)}"; expected a value (object, array, string, number, true, false or null)`,
  );
  assert.deepEqual(
    err('[@]')[2],
    'unexpected "@"; expected a value (object, array, string, number, true, false or null)',
  );
  assert.deepEqual(err('[ ]]')[2], 'unexpected "]" after the end of the top-level value');
});

test('jsonc: words that are not JSON', () => {
  assert.deepEqual(err('[trueish]'), [
    1,
    2,
    'unexpected "trueish"; expected a value (object, array, string, number, true, false or null)',
  ]);
  assert.deepEqual(err('[null_]')[0], 1);
  assert.deepEqual(err('[false1]')[0], 1);
  assert.deepEqual(plain(root('[true,false,null]')), [true, false, null]);
  assert.deepEqual(err('[NaN]'), [1, 4, '"NaN" is not a JSON number; write a finite number']);
  assert.deepEqual(err('{"a": Infinity}'), [6, 9, '"Infinity" is not a JSON number; write a finite number']);
  assert.deepEqual(err('[-Infinity]'), [1, 2, 'invalid number "-"']);
  assert.deepEqual(err("{'a': 1}"), [1, 2, 'unexpected "\'"; expected a property name in double quotes']);
  assert.deepEqual(err("['a']"), [1, 2, 'strings must use double quotes (")']);
});

test('jsonc: numbers are strict decimal, with the whole bad token named', () => {
  for (const [t, v] of [
    ['0', 0],
    ['-1', -1],
    ['1.5e+3', 1500],
    ['2E-2', 0.02],
    ['10', 10],
    ['-0.25', -0.25],
  ] as const) {
    const n = root(t);
    assert.deepEqual([n.kind, (n as { value: number }).value, (n as { raw: string }).raw], ['number', v, t]);
  }
  const msg = (bad: string) =>
    `invalid number "${bad}" (JSON numbers are decimal: no leading zeros, hex, or trailing characters)`;
  assert.deepEqual(err('01'), [0, 2, msg('01')]);
  assert.deepEqual(err('[1.]'), [1, 3, msg('1.')]);
  assert.deepEqual(err('[0x1F, 2]'), [1, 5, msg('0x1F')]);
  assert.deepEqual(err('[1e5e]'), [1, 5, msg('1e5e')]);
  assert.deepEqual(err('[1-2]'), [1, 4, msg('1-2')]);
  assert.deepEqual(err('[1+]'), [1, 3, msg('1+')]);
  assert.deepEqual(err('[1_0]'), [1, 4, msg('1_0')]);
  assert.deepEqual(err('[-]'), [1, 2, 'invalid number "-"']);
  assert.deepEqual(err('[-x]'), [1, 2, 'invalid number "-"']);
  assert.deepEqual(
    err('[.5]')[2],
    'unexpected "."; expected a value (object, array, string, number, true, false or null)',
  );
  assert.deepEqual(plain(root('[1,2]')), [1, 2]);
  assert.deepEqual(plain(root('{"a":3}')), { a: 3 });
});

test('jsonc: strings: escapes, and each way a string can be broken', () => {
  assert.equal(plain(root('"q\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t"')), 'q"b\\s/b\bf\fn\nr\rt\t');
  assert.equal(plain(root('"\\u0041\\u00e9\\uD83D\\uDE00x"')), 'Aé😀x');
  assert.equal(plain(root('"a\\u004Ab"')), 'aJb');
  assert.equal(plain(root('""')), '');
  assert.deepEqual(err('["abc'), [1, 2, 'unterminated string']);
  assert.deepEqual(err('["ab\ncd"]'), [1, 2, 'unterminated string (a line break comes before its closing quote)']);
  assert.deepEqual(err('["ab\rcd"]'), [1, 2, 'unterminated string (a line break comes before its closing quote)']);
  assert.deepEqual(err('["ab\tc"]'), [4, 5, 'control character U+0009 inside a string; escape it']);
  assert.deepEqual(err('["ab\u001fc"]'), [4, 5, 'control character U+001F inside a string; escape it']);
  assert.deepEqual(plain(root('["ab\u0020c"]')), ['ab c']);
  assert.deepEqual(err('["a\\x"]'), [3, 5, 'invalid escape "\\x" in a string']);
  assert.deepEqual(err('"a\\'), [2, 4, 'invalid escape "\\" in a string']);
  assert.deepEqual(err('["\\u12G4"]'), [2, 4, 'invalid \\u escape; expected 4 hex digits']);
  assert.deepEqual(err('["\\u12"]'), [2, 4, 'invalid \\u escape; expected 4 hex digits']);
});

test('jsonc: objects: each broken form, at the character that breaks it', () => {
  assert.deepEqual(err('{'), [0, 1, 'unexpected end of file inside an object; expected "}"']);
  assert.deepEqual(err(' {"a":1,'), [1, 2, 'unexpected end of file inside an object; expected "}"']);
  assert.deepEqual(err('{,}'), [1, 2, 'unexpected ","; expected a property name in double quotes']);
  assert.deepEqual(err('{"a":1,,}'), [7, 8, 'unexpected ","; expected a property name in double quotes']);
  assert.deepEqual(err('{a:1}'), [1, 2, 'unexpected "a"; expected a property name in double quotes']);
  assert.deepEqual(err('{"a" 1}'), [5, 6, 'expected ":" after property name "a", found "1"']);
  assert.deepEqual(err('{"a"'), [4, 4, 'expected ":" after property name "a", found end of file']);
  assert.deepEqual(err('{"a":'), [5, 5, 'unexpected end of file; expected a value for "a"']);
  assert.deepEqual(err('{"a": // c\n'), [11, 11, 'unexpected end of file; expected a value for "a"']);
  assert.deepEqual(err('{"a":1'), [0, 1, 'unexpected end of file inside an object; expected "," or "}"']);
  assert.deepEqual(err('{"a":1 x}'), [7, 8, 'expected "," or "}" after the value of "a", found "x"']);
  assert.deepEqual(err('{"a":1 ]'), [7, 8, 'expected "," or "}" after the value of "a", found "]"']);
  assert.deepEqual(plain(root('{ }')), {});
});

test('jsonc: arrays: each broken form, at the character that breaks it', () => {
  assert.deepEqual(err('['), [0, 1, 'unexpected end of file inside an array; expected "]"']);
  assert.deepEqual(err('x[1,'.slice(1)), [0, 1, 'unexpected end of file inside an array; expected "]"']);
  assert.deepEqual(err('[1'), [0, 1, 'unexpected end of file inside an array; expected "," or "]"']);
  assert.deepEqual(err('[1 2]'), [3, 4, 'expected "," or "]" in the array, found "2"']);
  assert.deepEqual(err('[1 }'), [3, 4, 'expected "," or "]" in the array, found "}"']);
  assert.deepEqual(err('[,]'), [
    1,
    2,
    'unexpected ","; expected a value (object, array, string, number, true, false or null)',
  ]);
  assert.deepEqual(err('[1,,]')[0], 3);
  assert.deepEqual(plain(root('[ ]')), []);
  assert.deepEqual(plain(root('[1,]')), [1]);
});

test('jsonc: nesting up to 64 levels below the top is read; deeper is an error, not a stack overflow', () => {
  assert.deepEqual(plain(root('['.repeat(65) + ']'.repeat(65))) !== undefined, true);
  assert.deepEqual(err('['.repeat(66) + ']'.repeat(66)), [65, 66, 'nesting deeper than 64 levels']);
  assert.deepEqual(err('{"a":'.repeat(66) + '1' + '}'.repeat(66))[2], 'nesting deeper than 64 levels');
  assert.deepEqual(err('['.repeat(100000))[2], 'nesting deeper than 64 levels');
});

test('jsonc: prop finds a key (the last of duplicates, as JSON.parse keeps it)', () => {
  const r = root('{"a":1,"b":2,"a":3}') as JsonObject;
  assert.equal((prop(r, 'a')!.value as { value: number }).value, 3);
  assert.equal(prop(r, 'a')!.keySpan.start, 13);
  assert.equal((prop(r, 'b')!.value as { value: number }).value, 2);
  assert.equal(prop(r, 'c'), undefined);
  assert.equal(prop(root('{}') as JsonObject, 'a'), undefined);
});

test('jsonc edges the mutation run found: exponents, 9, a lone true, comments that do not close', () => {
  assert.deepEqual(plain(root('[1e10, 9, 2E+12]')), [1e10, 9, 2e12]);
  assert.equal(plain(root('true')), true);
  assert.equal(plain(root('null')), null);
  assert.deepEqual(err('[1 /*/ 2]'), [3, 5, 'unterminated /* comment']);
  assert.deepEqual(err('{"a": // c'), [10, 10, 'unexpected end of file; expected a value for "a"']);
  assert.deepEqual(
    err('[xNaN]')[2],
    'unexpected "xNaN"; expected a value (object, array, string, number, true, false or null)',
  );
});
