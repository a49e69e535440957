// Starts a real `herald dev` for the SDK's tests: the binary named by
// HERALD_BIN (scripts/jstest.sh builds it), or one built from the repository
// with `go build` otherwise. Also mints device tokens with `herald token`,
// pushes over the REST API, and puts a TCP proxy in front of an edge so that a
// test can cut connections the way a network does.
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import path from 'node:path';

const run = promisify(execFile);

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** The development API key of `herald dev` (public, dev only). */
export const devAPIKey = 'dev-api-key';

let built;

/**
 * heraldBin resolves with the herald binary: HERALD_BIN, or a build of
 * ./cmd/herald (once per test process; Go's cache makes it quick after the
 * first). A built binary, unlike `go run`, receives the signals the tests send.
 */
export function heraldBin() {
  if (process.env.HERALD_BIN) return Promise.resolve(process.env.HERALD_BIN);
  built ??= (async () => {
    const out = path.join(tmpdir(), `herald-jstest-${process.pid}`);
    await run('go', ['build', '-o', out, './cmd/herald'], { cwd: repoRoot, maxBuffer: 16 << 20 });
    process.once('exit', () => rmSync(out, { force: true }));
    return out;
  })();
  return built;
}

/**
 * Starts `herald dev` (or, with opts.command, `herald serve`) on a free
 * loopback port and resolves once it listens.
 * @param {string[]} [args] extra flags for herald dev
 * @param {{command?: string}} [opts] command: 'dev' (default) or 'serve'
 * @returns {Promise<{base: string, ws: string, admin: string, proc: import('node:child_process').ChildProcess, logs: string[], stop: () => Promise<void>}>}
 */
export async function startHerald(args = [], { command = 'dev' } = {}) {
  const cmd = await heraldBin();
  const proc = spawn(cmd, [command, '--addr', '127.0.0.1:0', '--admin-addr', '127.0.0.1:0', '--log-format', 'json', '--drain-window', '0s', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs = [];
  // A test process that exits without stop() (a failed before hook, a timeout) takes its server along.
  const killOnExit = () => proc.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise((resolve) => proc.once('exit', resolve)).finally(() => process.removeListener('exit', killOnExit));
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`herald ${command} did not start within 120 s:\n` + logs.join('\n'))), 120_000);
    const rl = createInterface({ input: proc.stderr });
    rl.on('line', (line) => {
      logs.push(line);
      if (logs.length > 2000) logs.shift();
      try {
        const rec = JSON.parse(line);
        if (rec.msg === 'herald listening') {
          clearTimeout(timer);
          resolve(rec);
        }
      } catch {
        // not a JSON log line
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`herald ${command} exited with ${code}:\n` + logs.join('\n')));
    });
  });
  const rec = await listening;
  return {
    base: 'http://' + rec.addr,
    ws: 'ws://' + rec.addr,
    admin: rec.admin ? 'http://' + rec.admin : '',
    proc,
    logs,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/**
 * mintToken returns a device token signed with the development secret that
 * `herald dev` accepts: `herald token --account A --device D [--ttl TTL]
 * [--topics P,…]`.
 * @param {string} account
 * @param {string} device
 * @param {{ttl?: string, topics?: string[]}} [opts] ttl as a Go duration, such
 *   as "1h"; topics, the patterns of the token's topics claim
 */
export async function mintToken(account, device, opts = {}) {
  const args = ['token', '--account', account, '--device', device];
  if (opts.ttl) args.push('--ttl', opts.ttl);
  if (opts.topics?.length) args.push('--topics', opts.topics.join(','));
  const { stdout } = await run(await heraldBin(), args, { cwd: repoRoot });
  const tok = stdout.trim();
  if (!tok) throw new Error('herald token printed no token');
  return tok;
}

/**
 * push sends POST /v1/push with the development API key and resolves with
 * {status, body}.
 * @param {string} base the herald base URL (http://…)
 * @param {object} req the push request: {to: {account, device?}, type, payload, ack?, timeout_ms?}
 */
export async function push(base, req) {
  const res = await fetch(base + '/v1/push', {
    method: 'POST',
    headers: { Authorization: `Bearer ${devAPIKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(req),
  });
  return { status: res.status, body: await res.json() };
}

/**
 * publish sends POST /v1/topics/{topic}/messages with the development API key
 * and resolves with {status, body}.
 * @param {string} base the herald base URL (http://…)
 * @param {string} topic a valid topic name
 * @param {object} req {type, payload, timeout_ms?}
 */
export async function publish(base, topic, req) {
  const res = await fetch(`${base}/v1/topics/${topic}/messages`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${devAPIKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(req),
  });
  return { status: res.status, body: await res.json() };
}

/**
 * startProxy forwards TCP connections from a free loopback port to target
 * ("host:port"). cut() destroys every connection open through it, as a
 * network failure would (the client sees 1006); down() does so and ends new
 * connections at once until up(); close() stops it.
 * @param {string} target
 */
export async function startProxy(target) {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const open = new Set();
  let accepted = 0;
  let refusing = false;
  const server = createServer((down) => {
    if (refusing) {
      down.destroy(); // a dead region: the connection ends before any answer
      return;
    }
    accepted++;
    const up = connect(port, host);
    const pair = { down, up };
    open.add(pair);
    const end = () => {
      open.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = `127.0.0.1:${server.address().port}`;
  return {
    base: 'http://' + addr,
    ws: 'ws://' + addr,
    /** connections accepted so far */
    get accepted() {
      return accepted;
    },
    cut() {
      for (const { down, up } of [...open]) {
        down.destroy();
        up.destroy();
      }
    },
    /** down cuts every connection and ends new ones at once, as a lost region would, until up(). */
    down() {
      refusing = true;
      this.cut();
    },
    up() {
      refusing = false;
    },
    close() {
      this.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
