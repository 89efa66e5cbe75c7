// Writes the mutation-testing tables of docs/mutation-results.md from StrykerJS's JSON reports
// (reports/mutation*.json, written by `npm run mutate`; the newest report wins per file): the score
// per file, and every surviving or uncovered mutant with its line, its replacement and the reason
// it is left (docs/mutation-reasons.json, by "file:line"; "—" where none is written yet).
// Usage: node scripts/mutation-report.mjs > docs/mutation-results.md
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dir = 'reports';
const reports = existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => /^mutation.*\.json$/.test(f))
      .map((f) => join(dir, f))
      .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
  : [];
const reasonsFile = join('docs', 'mutation-reasons.json');
const reasons = existsSync(reasonsFile) ? JSON.parse(readFileSync(reasonsFile, 'utf8')) : {};
if (reports.length === 0) {
  console.error('mutation-report: no reports/mutation*.json; run npm run mutate first');
  process.exit(2);
}
const files = new Map();
for (const r of reports)
  for (const [f, v] of Object.entries(JSON.parse(readFileSync(r, 'utf8')).files)) files.set(f, v);
// runs over a few lines (reports/lines-*.json, `--mutate file:line-line`) update those mutants only
const key = (m) =>
  `${m.location.start.line}:${m.location.start.column}:${m.location.end.line}:${m.location.end.column}:${m.mutatorName}:${m.replacement}`;
const lineReports = existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => /^lines-.*\.json$/.test(f))
      .sort((a, b) => statSync(join(dir, a)).mtimeMs - statSync(join(dir, b)).mtimeMs)
  : [];
for (const r of lineReports)
  for (const [f, v] of Object.entries(JSON.parse(readFileSync(join(dir, r), 'utf8')).files)) {
    const whole = files.get(f);
    if (!whole) continue;
    const now = new Map(v.mutants.map((m) => [key(m), m.status]));
    for (const m of whole.mutants) m.status = now.get(key(m)) ?? m.status;
  }

const rows = [];
const left = [];
for (const [f, v] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
  const n = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0 };
  const src = v.source.split('\n');
  for (const m of v.mutants) {
    if (m.status in n) n[m.status]++;
    if (m.status === 'Survived' || m.status === 'NoCoverage') {
      const line = m.location.start.line;
      left.push({
        where: `${f}:${line}`,
        reason: reasons[`${f}:${line}`] ?? reasons[f] ?? '—',
        status: m.status === 'Survived' ? 'survived' : 'no coverage',
        mutator: m.mutatorName,
        code: src[line - 1].trim().slice(0, 70),
        replacement: String(m.replacement ?? '').slice(0, 50),
      });
    }
  }
  const detected = n.Killed + n.Timeout;
  const valid = detected + n.Survived + n.NoCoverage;
  rows.push(
    `| ${f} | ${valid ? ((100 * detected) / valid).toFixed(1) : '—'} % | ${n.Killed} | ${n.Timeout} | ${n.Survived} | ${n.NoCoverage} |`,
  );
}
const cell = (s) => s.replace(/\|/g, '\\|').replace(/`/g, "'");
console.log(`| file | score | killed | timeout | survived | no coverage |
|---|---|---|---|---|---|
${rows.join('\n')}

Mutants left (${left.length}):

| where | | mutator | code | replaced by | why it is left |
|---|---|---|---|---|---|
${left.map((m) => `| ${m.where} | ${m.status} | ${m.mutator} | \`${cell(m.code)}\` | \`${cell(m.replacement)}\` | ${cell(m.reason)} |`).join('\n')}`);
