// The SDK's declarations (dist/*.d.ts) as a TypeScript app sees them:
// test/helpers/typing.ts must compile, its marked mistakes must not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('the declarations type sends, listeners and options', () => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, '--noEmit', '--strict', '--target', 'ES2022', '--module', 'ES2022', '--moduleResolution', 'Bundler', '--lib', 'ES2022,DOM', '--pretty', 'false', 'test/helpers/typing.ts'];
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 300_000 });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `tsc failed on test/helpers/typing.ts:\n${r.stdout}${r.stderr}`);
});
