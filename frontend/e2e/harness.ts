// harness starts the real parts for the browser tests: PostgreSQL (a new database
// in AURA_TEST_DATABASE_URL's cluster, or aura's embedded one), bin/aura (twice,
// on one database), bin/aura-runner, and chromium through playwright-core. All
// traffic stays on loopback.
import { randomBytes } from 'node:crypto';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect, createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const root = resolve(import.meta.dirname, '../..');
export const bin = join(root, 'bin');
export const dist = join(root, 'backend/internal/web/dist');
export const outDir = join(root, 'frontend/test-output');
export const ADMIN = 'AURA_ADMINKEY_e2e-admin';
// Servers on one database must seal secrets with one key (aura refuses to start
// otherwise): every server of a run gets this one.
const SECRET_KEY = randomBytes(32).toString('hex');

const procs: ChildProcess[] = [];
const cleanups: Array<() => void> = [];

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = netServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? ok(a.port) : fail(new Error('no port'))));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

// database returns a URL of a fresh database: in the cluster scripts/test started,
// or (without one) undefined, and aura starts its embedded cluster.
function database(): string | undefined {
  const url = process.env.AURA_TEST_DATABASE_URL;
  if (!url) return undefined;
  const name = `aura_e2e_${process.pid}_${Date.now()}`;
  const pg = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort().reverse() : [];
  const createdb = pg.map((v) => `/usr/lib/postgresql/${v}/bin/createdb`).find((f) => existsSync(f)) ?? 'createdb';
  execFileSync(createdb, ['--maintenance-db', url, name]);
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export interface Aura {
  url: string;
  out: string[];
  proc: ChildProcess;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { proc: ChildProcess; out: string[] } {
  const out: string[] = [];
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (b: Buffer) => out.push(b.toString()));
  proc.stderr!.on('data', (b: Buffer) => out.push(b.toString()));
  procs.push(proc);
  return { proc, out };
}

// startAura starts bin/aura on a free port; baseURL is the address users reach
// (the servers of one database share it), by default the server's own; store,
// the blob store (the servers of one database share it too), by default a
// folder in data; more, further flags given the server's port.
export async function startAura(dbURL: string | undefined, data: string, baseURL?: string, store?: string, more?: (port: number) => string[]): Promise<Aura> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = ['serve', '--addr', `127.0.0.1:${port}`, '--data', data, '--admin-token', ADMIN, '--base-url', baseURL ?? url, '--secret-key', SECRET_KEY];
  if (more) args.push(...more(port));
  if (dbURL) args.push('--database-url', dbURL);
  if (store) args.push('--store', store);
  const { proc, out } = run(join(bin, 'aura'), args);
  await until(
    'aura to start',
    async () => {
      if (proc.exitCode !== null) throw new Error(`aura exited: ${out.join('')}`);
      const r = await fetch(`${url}/readyz`);
      return r.ok;
    },
    60_000,
  );
  return { url, out, proc };
}

// csp is the Content-Security-Policy aura sends with the app (web.ContentSecurityPolicy),
// for front to send the same.
function csp(): string {
  const src = readFileSync(join(root, 'backend/internal/web/web.go'), 'utf8');
  const m = /const ContentSecurityPolicy = ((?:"[^"]*"\s*\+?\s*)+)/.exec(src);
  if (!m) throw new Error('no ContentSecurityPolicy in backend/internal/web/web.go');
  return [...m[1]!.matchAll(/"([^"]*)"/g)].map((x) => x[1]).join('');
}

// front serves the built app (under aura's Content-Security-Policy) and passes /api
// (and the websocket) to aura, for as long as aura itself does not serve the app.
async function front(target: string): Promise<string> {
  const probe = await fetch(`${target}/`).catch(() => undefined);
  const page = probe && probe.ok && (probe.headers.get('content-type') ?? '').includes('text/html') ? await probe.text() : '';
  // A binary built before the app serves a placeholder page instead of it.
  if (page && !page.includes('was not built into this binary')) return target;
  const t = new URL(target);
  const index = readFileSync(join(dist, 'index.html'));
  const policy = csp();
  const types: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.svg': 'image/svg+xml' };
  const srv: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path.startsWith('/api/') || path === '/healthz' || path === '/readyz') {
      const p = request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers }, (pr) => {
        res.writeHead(pr.statusCode ?? 502, pr.headers);
        pr.pipe(res);
      });
      p.on('error', () => res.destroy());
      req.pipe(p);
      return;
    }
    const file = join(dist, path);
    if (path.startsWith('/assets/') && file.startsWith(dist) && existsSync(file)) {
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(readFileSync(file));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html', 'content-security-policy': policy });
    res.end(index);
  });
  srv.on('upgrade', (req, sock, head) => {
    const up = connect(Number(t.port), t.hostname, () => {
      up.write(`${req.method} ${req.url} HTTP/1.1\r\n${Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`).join('\r\n')}\r\n\r\n`);
      up.write(head);
      up.pipe(sock);
      sock.pipe(up);
    });
    up.on('error', () => sock.destroy());
    sock.on('error', () => up.destroy());
  });
  const port = await freePort();
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  cleanups.push(() => srv.close());
  return `http://127.0.0.1:${port}`;
}

export interface World {
  web: string; // what the browser opens (server one)
  one: Aura;
  two: Aura; // a second server on the same database, for the runner
  browser: Browser;
  tmp: string;
}

// startWorld starts the servers, the app and Chromium; more: further flags of
// server one (the one the browser opens), given its port.
export async function startWorld(more?: (port: number) => string[]): Promise<World> {
  for (const b of ['aura', 'aura-runner']) if (!existsSync(join(bin, b))) throw new Error(`missing bin/${b}: run scripts/test or go build`);
  if (!existsSync(join(dist, 'index.html'))) throw new Error('missing the built app: npm run build:web');
  const tmp = mkdtempSync(join(tmpdir(), 'aura-e2e-'));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  mkdirSync(outDir, { recursive: true });
  const db = database();
  // Both servers keep artifacts and caches in one folder, as servers of one
  // database must share a store: the runner uploads through two, the browser
  // reads through one.
  const store = `dir:${join(tmp, 'store')}`;
  const one = await startAura(db, join(tmp, 'data1'), undefined, store, more);
  // Without a cluster of scripts/test (an ad-hoc run), server one's embedded
  // database serves alone: "two" is server one, and the two-server path is not run.
  const two = db ? await startAura(db, join(tmp, 'data2'), one.url, store) : one;
  const web = await front(one.url);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  cleanups.push(() => void browser.close());
  return { web, one, two, browser, tmp };
}

export function startRunner(w: World, token: string, tags: string[]): { proc: ChildProcess; out: string[] } {
  const work = join(w.tmp, `work-${procs.length}`);
  mkdirSync(work, { recursive: true });
  return run(join(bin, 'aura-runner'), ['--server', w.two.url, '--token', token, '--work-dir', work, '--grace', '2s', ...tags.flatMap((t) => ['--tag', t])], {
    AURA_RUNNER_TOKEN: '',
    AURA_TAGS: '',
    PATH: `${bin}:${process.env.PATH ?? ''}`,
  });
}

export async function stopWorld(): Promise<void> {
  for (const p of procs.reverse()) {
    if (p.exitCode === null) {
      p.kill('SIGTERM');
      await Promise.race([new Promise((r) => p.once('exit', r)), sleep(5000)]);
      if (p.exitCode === null) p.kill('SIGKILL');
    }
  }
  for (const c of cleanups.reverse()) c();
}

// call is a JSON API call with a token.
export async function call<T>(base: string, method: string, path: string, token: string | null, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(base + path, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}
