// bench-live measures the live log latency as a user sees it: a job's shell writes a
// line carrying its wall-clock time (`t=<ms>`), aura-runner sends it to server two,
// PostgreSQL's NOTIFY carries it to server one, and server one's websocket to an open
// job page in Chromium, which shows it. A probe in the page notes when each line is
// first in the DOM (a MutationObserver) and the frame that paints it (the next
// requestAnimationFrame); latency = painted − t. Everything runs on this machine, so
// the clocks are one.
//
// Two rounds: one viewer, then 100 on one job: the measured page plus 99 others, by
// default raw websocket clients that subscribe to the job's log as the app does
// (src/api/events.ts; AURA_BENCH_EXTRA=sockets), or with AURA_BENCH_EXTRA=pages real
// Chromium pages of the job (heavy: each runs the app and its log worker; 99 of them
// are more than a 2-core machine shared with other builds can take).
//
// It prints figures and fails only when the benchmark itself broke (no lines seen);
// the budget (p50 ≤ 50 ms and p95 ≤ 100 ms with one viewer, p95 ≤ 250 ms with 100)
// is for the reader to compare. Run it with scripts/bench-live; it is not part of
// scripts/test.
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, expect, it } from 'vitest';
import { ADMIN, call, sleep, startRunner, startWorld, stopWorld, until, type World } from './harness';
import { topics } from '../src/api/topics';

const LINES = Number(process.env.AURA_BENCH_LINES ?? 200);
const GAP = process.env.AURA_BENCH_GAP ?? '0.05'; // seconds between lines
const VIEWERS = Number(process.env.AURA_BENCH_VIEWERS ?? 100);
const EXTRA = process.env.AURA_BENCH_EXTRA === 'pages' ? 'pages' : 'sockets';
const LINE = /t=(\d+) i=(\d+)/;

interface Seen {
  t: number; // when the shell wrote it
  ws: number; // when the page's websocket received it
  dom: number; // first in the DOM
  frame: number; // the frame that paints it
}

// probe runs in every page before the app: it records each `t=… i=…` log line when
// the page's websocket receives it, the first time it is in the DOM, and the frame
// after.
function probe() {
  const seen: Record<string, { t: number; ws: number; dom: number; frame: number }> = {};
  const recv: Record<string, number> = {};
  (window as unknown as { __seen: typeof seen }).__seen = seen;
  (window as unknown as { __recv: typeof recv }).__recv = recv;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      let partial = '';
      this.addEventListener('message', (m: MessageEvent) => {
        const now = Date.now();
        const e = JSON.parse(String(m.data)) as { type: string; data?: string };
        if (e.type !== 'log' || !e.data) return;
        const lines = (partial + atob(e.data)).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) {
          const x = /t=(\d+) i=(\d+)/.exec(l);
          if (x && !(x[2]! in recv)) recv[x[2]!] = now;
        }
      });
    }
  };
  const scan = () => {
    const now = Date.now();
    const fresh: string[] = [];
    for (const el of document.querySelectorAll('.log-line')) {
      const m = /t=(\d+) i=(\d+)/.exec(el.textContent ?? '');
      if (m && !(m[2]! in seen)) {
        seen[m[2]!] = { t: Number(m[1]), ws: recv[m[2]!] ?? 0, dom: now, frame: 0 };
        fresh.push(m[2]!);
      }
    }
    if (fresh.length > 0)
      requestAnimationFrame(() => {
        const f = Date.now();
        for (const i of fresh) seen[i]!.frame = f;
      });
  };
  new MutationObserver(scan).observe(document, { childList: true, subtree: true, characterData: true });
}

function quantiles(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN;
  return { n: s.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: s[s.length - 1] ?? NaN };
}

const fmt = (q: ReturnType<typeof quantiles>) => `p50 ${q.p50} ms  p95 ${q.p95} ms  p99 ${q.p99} ms  max ${q.max} ms`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

// socketViewer subscribes to log:{job} as the app does, and notes each line's
// arrival time; ready resolves once the server confirmed the subscription.
function socketViewer(web: string, job: number, lat: number[]): { ready: Promise<void>; close: () => void } {
  const url = new URL('/api/v1/events', web);
  url.protocol = 'ws:';
  const ws = new WebSocket(url);
  let partial = '';
  const ready = new Promise<void>((ok, fail) => {
    ws.onerror = () => fail(new Error('websocket error'));
    ws.onopen = () => ws.send(JSON.stringify({ op: 'subscribe', topic: topics.log(job), offset: 0 }));
    ws.onmessage = (m) => {
      const now = Date.now();
      const e = JSON.parse(String(m.data)) as { type: string; data?: string };
      if (e.type === 'subscribed') ok();
      if (e.type !== 'log' || !e.data) return;
      const text = partial + Buffer.from(e.data, 'base64').toString('latin1');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        const m = LINE.exec(l);
        if (m) lat.push(now - Number(m[1]));
      }
    };
  });
  return { ready, close: () => ws.close() };
}

let w: World;

afterAll(async () => {
  await stopWorld();
});

async function jobPage(ctx: BrowserContext, job: number): Promise<Page> {
  const p = await ctx.newPage();
  await p.goto(`${w.web}/j/${job}`, { timeout: 120_000 });
  await p.locator('.log-line', { hasText: 'ready' }).first().waitFor({ timeout: 120_000 });
  return p;
}

async function round(viewers: number): Promise<string> {
  // The job writes `ready`, waits for the go file (so every viewer is open and
  // subscribed first), then the timed lines.
  const go = join(w.tmp, `go-${viewers}`);
  const cmd = `echo ready; while [ ! -e ${go} ]; do sleep 0.02; done; for i in $(seq ${LINES}); do echo "t=$(date +%s%3N) i=$i"; sleep ${GAP}; done`;
  const job = await call<{ id: number }>(w.one.url, 'POST', '/api/v1/jobs', ADMIN, { project: 'bench', tag: 'bench', entityKey: 'run', entityVal: `viewers-${viewers}`, name: 'lines', cmd });
  const contexts: BrowserContext[] = [];
  const newContext = async () => {
    const c = await w.browser.newContext({ viewport: { width: 1280, height: 800 } });
    await c.addInitScript(probe);
    contexts.push(c);
    return c;
  };
  const page = await jobPage(await newContext(), job.id);
  const socketLat: number[] = [];
  const extra = viewers - 1;
  const sockets = EXTRA === 'sockets' ? Array.from({ length: extra }, () => socketViewer(w.web, job.id, socketLat)) : [];
  await Promise.all(sockets.map((s) => s.ready));
  if (EXTRA === 'pages') {
    // A context each, as separate users' browsers (pages of one context may share a
    // renderer process); opened one after the other: 99 at once bring a 2-core
    // machine to a load of 70 and their loads past 30 s.
    for (let k = 0; k < extra; k++) await jobPage(await newContext(), job.id);
  }
  const before = load();
  const start = Date.now();
  writeFileSync(go, '');
  await until(
    'the job to end',
    async () => {
      const j = await call<{ status: string }>(w.one.url, 'GET', `/api/v1/jobs/${job.id}`, null);
      return j.status !== 'running' && j.status !== 'queued' ? j.status : undefined;
    },
    LINES * (Number(GAP) * 1000 + 100) + 60_000,
  );
  await sleep(1000); // the last lines' frames
  const after = load();
  const seen = await page.evaluate(() => (window as unknown as { __seen: Record<string, Seen> }).__seen);
  const timed = Object.values(seen).filter((s) => s.t >= start - 5 && s.frame > 0);
  const painted = quantiles(timed.map((s) => s.frame - s.t));
  const dom = quantiles(timed.map((s) => s.dom - s.t));
  const ws = quantiles(timed.filter((s) => s.ws > 0).map((s) => s.ws - s.t));
  let extraFigures = '';
  if (EXTRA === 'sockets' && extra > 0) {
    extraFigures = `\n    the other ${extra} viewers, raw websocket clients (line received − t): ${fmt(quantiles(socketLat))} (${socketLat.length}/${extra * LINES} lines)`;
  } else if (extra > 0) {
    const all: number[] = [];
    for (const c of contexts.slice(1))
      for (const p of c.pages()) {
        const s = await p.evaluate(() => (window as unknown as { __seen: Record<string, Seen> }).__seen);
        for (const v of Object.values(s)) if (v.frame > 0) all.push(v.frame - v.t);
      }
    extraFigures = `\n    the other ${extra} viewers, Chromium pages (painted − t): ${fmt(quantiles(all))} (${all.length}/${extra * LINES} lines)`;
  }
  for (const s of sockets) s.close();
  for (const c of contexts) await c.close();
  expect(timed.length, 'lines the page showed').toBeGreaterThan(LINES / 2);
  const who = viewers === 1 ? '1 viewer' : `${viewers} viewers (1 Chromium page + ${extra} ${EXTRA === 'sockets' ? 'raw websocket clients' : 'Chromium pages'})`;
  return (
    `  ${who}:\n` +
    `    the measured page (painted − t): ${fmt(painted)} (${painted.n}/${LINES} lines)\n` +
    `    the measured page (in the DOM − t): ${fmt(dom)}\n` +
    `    the measured page (its websocket received it − t): ${fmt(ws)}` +
    extraFigures +
    `\n    load average (1, 5, 15 min) on ${cpus().length} CPUs: ${before} when the lines began, ${after} after`
  );
}

it('live log latency: a runner writes a line → an open Chromium page shows it', async () => {
  // Every viewer connects from loopback: one address, past the default bound.
  process.env.AURA_EVENTS_PER_ADDRESS ??= String(VIEWERS + 16);
  w = await startWorld();
  if (w.two === w.one) console.warn('bench-live: one server only (no AURA_TEST_DATABASE_URL): the runner and the page share it');
  await call(w.one.url, 'POST', '/api/v1/projects', ADMIN, { slug: 'bench', name: 'bench' });
  const runner = await call<{ token: string }>(w.one.url, 'POST', '/api/v1/runners', ADMIN, { name: 'bench', tags: ['bench'] });
  startRunner(w, runner.token, ['bench']);
  const figures = [`live log latency, runner on server ${w.two === w.one ? 'one' : 'two'} → job page in Chromium on server one; ${LINES} lines, ${Number(GAP) * 1000} ms apart`];
  figures.push(await round(1));
  if (VIEWERS > 1) figures.push(await round(VIEWERS));
  figures.push('  budget: p50 ≤ 50 ms and p95 ≤ 100 ms with one viewer; p95 ≤ 250 ms with 100 viewers');
  process.stdout.write(`\n${figures.join('\n')}\n\n`);
}, 900_000);
