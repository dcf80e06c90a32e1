// Live updates come over the websocket, not from the polling the pages fall back
// to while it is down. Each page here runs on a paused clock (playwright's fake
// timers), so no interval fires and no poll goes out: whatever changes on screen
// came from an event. The last test refuses the websocket and sees the same page
// stay stale, so the others cannot pass on polling.
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errors, openContext, openPage, violations } from './browser';
import { ADMIN, call, sleep, startRunner, startWorld, stopWorld, until, type World } from './harness';

interface Job {
  id: number;
  status: string;
}

let w: World;
let ctx: BrowserContext;
let projectToken = '';
let runnerToken = '';

const submit = (body: Record<string, unknown>) =>
  call<Job>(w.one.url, 'POST', '/api/v1/jobs', projectToken, { project: 'live', entityKey: 'commit', entityVal: 'c1', tag: 'nobody', cmd: 'true', ...body });

const cancel = (id: number) => call<Job>(w.one.url, 'POST', `/api/v1/jobs/${id}/cancel`, projectToken, {});

// frozenPage opens a page whose timers never fire: the polling fallback (and the
// socket's reconnect) are stopped for good. events 'refuse' makes the event stream
// fail the way a server or proxy without it does; 'mute' lets the socket open and
// subscribe but drops every event after that (to check these tests).
async function frozenPage(events: 'pass' | 'refuse' | 'mute' = 'pass'): Promise<Page> {
  const p = await openPage(ctx);
  if (events === 'refuse') await p.routeWebSocket(/\/api\/v1\/events/, (ws) => ws.close({ code: 1011, reason: 'refused by the test' }));
  if (events === 'mute')
    await p.routeWebSocket(/\/api\/v1\/events/, (ws) => {
      const server = ws.connectToServer();
      server.onMessage((m) => {
        if (typeof m === 'string' && /"type":"(subscribed|error)"/.test(m)) ws.send(m);
      });
    });
  await p.clock.install();
  await p.clock.pauseAt(Date.now() + 1000);
  return p;
}

// subscribed resolves once the page's socket has said `subscribed` to topic.
function subscribed(p: Page, topic: string): Promise<void> {
  return new Promise((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`the page never subscribed to ${topic}`)), 15_000);
    p.on('websocket', (ws) =>
      ws.on('framereceived', (f) => {
        if (typeof f.payload === 'string' && f.payload.includes('"subscribed"') && f.payload.includes(JSON.stringify(topic))) {
          clearTimeout(t);
          ok();
        }
      }),
    );
  });
}

beforeAll(async () => {
  w = await startWorld();
  await call(w.one.url, 'POST', '/api/v1/projects', ADMIN, { slug: 'live', name: 'Live' });
  projectToken = (await call<{ token: string }>(w.one.url, 'POST', '/api/v1/projects/live/tokens', ADMIN, { name: 'e2e' })).token;
  runnerToken = (await call<{ token: string }>(w.one.url, 'POST', '/api/v1/runners', ADMIN, { name: 'live', tags: ['live'] })).token;
  ctx = await openContext(w, {}, ADMIN);
});

afterAll(async () => {
  await stopWorld();
});

afterEach(() => {
  expect(violations.splice(0)).toEqual([]);
  expect(errors.splice(0)).toEqual([]);
});

describe('live updates', () => {
  it('shows a cancel on the job and entity pages by event alone', async () => {
    const job = await submit({ name: 'cancel-me' });
    const page = await frozenPage();
    const jobTopic = subscribed(page, `job:${job.id}`);
    await page.goto(`${w.web}/j/${job.id}`);
    await page.locator('.meta .status', { hasText: 'queued' }).waitFor();
    await jobTopic;

    const ent = await frozenPage();
    const entTopic = subscribed(ent, 'entity:live/commit/c1');
    await ent.goto(`${w.web}/p/live/commit/c1`);
    await ent.locator(`.graph [data-job="${job.id}"][data-status=queued]`).waitFor();
    await entTopic;

    await cancel(job.id);
    await page.locator('.meta .status', { hasText: 'cancelled' }).waitFor({ timeout: 10_000 });
    await ent.locator(`.graph [data-job="${job.id}"][data-status=cancelled]`).waitFor({ timeout: 10_000 });
    await page.close();
    await ent.close();
  });

  it('shows a running job, its log lines and its end by event alone', async () => {
    const job = await submit({ name: 'talk', tag: 'live', cmd: 'echo first; sleep 1; echo second; sleep 1; echo third' });
    const page = await frozenPage();
    const jobTopic = subscribed(page, `job:${job.id}`);
    await page.goto(`${w.web}/j/${job.id}`);
    await page.locator('.meta .status', { hasText: 'queued' }).waitFor();
    await jobTopic;

    startRunner(w, runnerToken, ['live']);
    await page.locator('.meta .status', { hasText: 'running' }).waitFor({ timeout: 20_000 });
    await page.locator('.log-line', { hasText: 'second' }).first().waitFor({ timeout: 10_000 });
    await page.locator('.meta .status', { hasText: 'succeeded' }).waitFor({ timeout: 20_000 });
    await page.locator('.log-line', { hasText: 'third' }).first().waitFor({ timeout: 10_000 });
    await page.close();
  });

  // A socket closed before the page knows its caller (the first /api/v1/me still
  // on its way) makes the page ask who it is again; the first answer is no change
  // of caller, so nothing may be fetched anew. It was: the page refetched every
  // query, which also made the next test flaky.
  it('refetches nothing when the socket closes before the caller is known', async () => {
    const job = await submit({ name: 'first-answer' });
    const page = await frozenPage('refuse');
    // Every question about the caller waits until released; the refused socket's
    // close asks a second time while the first is held.
    let release = () => {};
    const held = new Promise<void>((ok) => (release = ok));
    let asked = 0;
    await page.route(/\/api\/v1\/me$/, async (r) => {
      asked++;
      await held;
      await r.continue();
    });
    await page.goto(`${w.web}/j/${job.id}`);
    await page.locator('.meta .status', { hasText: 'queued' }).waitFor({ timeout: 10_000 });
    await until('the closed socket to ask who the caller is', () => asked >= 2, 10_000);

    await cancel(job.id);
    release();
    await sleep(1500);
    await expect(page.locator('.meta .status').textContent()).resolves.toContain('queued');
    await page.close();
  });

  it('is not passed by polling: with the websocket refused the page stays stale until time runs', async () => {
    const job = await submit({ name: 'stale' });
    const page = await frozenPage('refuse');
    await page.goto(`${w.web}/j/${job.id}`);
    await page.locator('.meta .status', { hasText: 'queued' }).waitFor();

    await cancel(job.id);
    // Longer than the pages' polling period (2 s): had a timer fired, the poll would show it.
    await sleep(3000);
    await expect(page.locator('.meta .status').textContent()).resolves.toContain('queued');
    // Time runs again: the fallback polls and catches up, so the page itself was fine.
    await page.clock.resume();
    await page.locator('.meta .status', { hasText: 'cancelled' }).waitFor({ timeout: 10_000 });
    await page.close();
  });
});
