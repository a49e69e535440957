// The generated message types (src/types.gen.ts, from `herald schema ts`) must turn
// a wrong payload into a compile error: tsc must accept test/fixtures/types/valid.ts,
// whose wrong payloads are marked @ts-expect-error, and reject invalid.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const fixtures = path.join(root, 'test', 'fixtures', 'types');

/**
 * Runs tsc --noEmit --strict on files (relative to clients/js).
 * @param {string[]} files
 * @returns {{status: number | null, output: string}}
 */
function typecheck(...files) {
  const args = [tsc, '--noEmit', '--strict', '--noUnusedLocals', '--exactOptionalPropertyTypes',
    '--target', 'ES2022', '--module', 'ES2022', '--moduleResolution', 'Bundler', '--pretty', 'false', ...files];
  // The timeout only keeps a stuck compiler from stalling the suite.
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 300_000 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/**
 * The errors in tsc's --pretty false output.
 * @param {string} output
 */
function errors(output) {
  const re = /^(.+)\((\d+),(\d+)\): error (TS\d+): (.*)$/gm;
  return [...output.matchAll(re)].map((m) => ({ file: m[1], line: Number(m[2]), col: Number(m[3]), code: m[4], message: m[5] }));
}

test('the generated types compile on their own', () => {
  const r = typecheck('src/types.gen.ts');
  assert.equal(r.status, 0, `tsc failed on src/types.gen.ts:\n${r.output}`);
});

test('correct payloads compile and wrong ones stay compile errors', () => {
  // An @ts-expect-error above a payload that compiles is itself an error (TS2578).
  const r = typecheck('test/fixtures/types/valid.ts');
  assert.equal(r.status, 0, `tsc failed on test/fixtures/types/valid.ts:\n${r.output}`);
});

test('a wrong payload fails to compile, naming the offending property', () => {
  const file = 'test/fixtures/types/invalid.ts';
  const r = typecheck(file);
  // tsc exits with 1 or 2 when it reports errors (2 when nothing is emitted anyway).
  assert.ok(r.status === 1 || r.status === 2, `tsc exited with ${r.status}, want 1 or 2:\n${r.output}`);
  const errs = errors(r.output);
  assert.equal(errs.length, 2, `want 2 errors:\n${r.output}`);

  const lines = readFileSync(path.join(fixtures, 'invalid.ts'), 'utf8').split('\n');
  const loud = lines.findIndex((l) => l.includes("volume: 'loud'"));
  assert.equal(errs[0].file, file);
  assert.equal(errs[0].line, loud + 1, `the first error is not on the volume: 'loud' line:\n${r.output}`);
  assert.equal(errs[0].col, lines[loud].indexOf('volume:') + 1, `the first error does not point at volume:\n${r.output}`);
  assert.match(errs[0].message, /'string' is not assignable to type 'number'/);

  assert.equal(errs[1].line, lines.findIndex((l) => l.includes('volumee')) + 1);
  assert.match(errs[1].message, /'volumee' does not exist in type 'PlaybackControlV1'/);
});
