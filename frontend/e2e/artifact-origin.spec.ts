// The artifact origin and the Caches tab against the real aura, PostgreSQL,
// aura-runner and Chromium. Server one runs with --artifact-origin
// http://localhost:PORT while the dashboard is http://127.0.0.1:PORT: two
// origins of one server. A private project's HTML report opens in the viewer
// from a signed address on the artifact origin, with no token; whatever a
// script there did, it could not read the dashboard's token or cookies nor
// call its API; that origin serves neither the API nor the app. The Caches tab
// lists what a job saved and lets a maintainer delete it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { axe, errors, openContext, openPage, violations } from './browser';
import { ADMIN, call, startRunner, startWorld, stopWorld, until, type World } from './harness';

interface Job {
  id: number;
  status: string;
}

let w: World;
let origin = '';
let projectToken = '';

afterEach(() => {
  expect(violations.splice(0)).toEqual([]);
  expect(errors.splice(0)).toEqual([]);
});

// The report's script would read the dashboard's token and call its API.
const HTML =
  '<!doctype html><html><head><title>report</title></head><body><h1>Coverage 93%</h1>' +
  "<script>document.body.insertAdjacentHTML('beforeend','<p id=ran>'+localStorage.getItem('aura.token')+'</p>'); fetch('/api/v1/me')</script></body></html>";
const b64 = (s: string) => Buffer.from(s).toString('base64');

const CMD = [
  'set -e',
  'mkdir -p report deps',
  `echo ${b64(HTML)} | base64 -d > report/index.html`,
  'head -c 5000 /dev/urandom > deps/blob.bin',
  'aura-runner artifact upload report',
  'aura-runner cache save go-mod/abc123 deps',
].join('\n');

async function runJob(project: string, token: string): Promise<Job> {
  const job = await call<Job>(w.one.url, 'POST', '/api/v1/jobs', token, { project, entityKey: 'commit', entityVal: 'abc', name: 'build', cmd: CMD, tag: 'origin' });
  const end = await until(
    `job ${job.id} to end`,
    async () => {
      const j = await call<Job>(w.one.url, 'GET', `/api/v1/jobs/${job.id}`, token);
      return ['queued', 'running', 'waiting'].includes(j.status) ? undefined : j;
    },
    60_000,
  );
  if (end.status !== 'succeeded') {
    const log = await fetch(`${w.one.url}/api/v1/jobs/${job.id}/log`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.text());
    throw new Error(`the job ${end.status}:\n${log}`);
  }
  return job;
}

beforeAll(async () => {
  w = await startWorld((port) => ['--artifact-origin', `http://localhost:${port}`]);
  origin = w.one.url.replace('127.0.0.1', 'localhost');
  await call(w.one.url, 'POST', '/api/v1/projects', ADMIN, { slug: 'orig', name: 'Origin', private: true });
  projectToken = (await call<{ token: string }>(w.one.url, 'POST', '/api/v1/projects/orig/tokens', ADMIN, { name: 'e2e' })).token;
  const runner = await call<{ token: string }>(w.one.url, 'POST', '/api/v1/runners', ADMIN, { name: 'origin', tags: ['origin'] });
  startRunner(w, runner.token, ['origin']);
});

afterAll(async () => {
  await stopWorld();
});

describe('the artifact origin', () => {
  let job: Job;

  it('serves neither the API nor the app', async () => {
    job = await runJob('orig', projectToken);
    for (const path of ['/', `/j/${job.id}`, '/api/v1/me', '/api/v1/projects', `/api/v1/jobs/${job.id}/artifacts/report/index.html?inline=1`, '/healthz']) {
      const r = await fetch(`${origin}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect([path, r.status]).toEqual([path, 404]);
      expect(await r.text()).not.toContain('Coverage');
    }
    // Unsigned, the report is not there either.
    expect((await fetch(`${origin}/jobs/${job.id}/artifacts/report/index.html`)).status).toBe(403);
  });

  it('frames a private report from a signed address there, where nothing reaches the dashboard’s token, cookies or API', async () => {
    const c = await openContext(w, {}, ADMIN);
    const p = await openPage(c);
    await p.goto(`${w.web}/j/${job.id}`);
    await p.evaluate(() => {
      document.cookie = 'aura_e2e=dashboard-secret; path=/';
    });
    const section = p.getByRole('region', { name: 'Artifacts' });
    await section.locator('[data-path="report"] > details > summary').click();
    await section.getByRole('button', { name: 'View report/index.html' }).click();
    const frame = p.getByRole('dialog', { name: 'report/index.html' }).locator('iframe');
    await frame.waitFor();
    const src = (await frame.getAttribute('src')) ?? '';
    expect(src.startsWith(`${origin}/jobs/${job.id}/artifacts/report/index.html?`)).toBe(true);
    expect(src).toContain('sig=');
    expect(await frame.getAttribute('sandbox')).toBe('');
    await p.frameLocator('.a-viewer iframe').getByRole('heading', { name: 'Coverage 93%' }).waitFor();
    await p.waitForTimeout(300);
    expect(await p.frameLocator('.a-viewer iframe').locator('#ran').count()).toBe(0);

    // The signed address opened as a page of its own: no credentials were needed,
    // and code there (run here through DevTools, as the page's own script would
    // be refused) reads no token or cookie of the dashboard and cannot call its API.
    const q = await openPage(c);
    const resp = await q.goto(src);
    expect(resp?.status()).toBe(200);
    expect(resp?.headers()['content-security-policy']).toMatch(/^sandbox;/);
    expect((await resp?.request().allHeaders())?.cookie).toBeUndefined();
    await q.getByRole('heading', { name: 'Coverage 93%' }).waitFor();
    expect(await q.locator('#ran').count()).toBe(0);
    const seen = await q.evaluate(async (dashboard: string) => {
      const attempt = async (f: () => unknown) => {
        try {
          return String(await f());
        } catch (e) {
          return `refused: ${(e as Error).name}`;
        }
      };
      return {
        token: await attempt(() => localStorage.getItem('aura.token')),
        cookie: await attempt(() => document.cookie),
        api: await attempt(async () => (await fetch(`${dashboard}/api/v1/me`, { credentials: 'include' })).status),
        own: await attempt(async () => (await fetch('/api/v1/me')).status),
      };
    }, w.web);
    expect(seen.token).not.toContain(ADMIN);
    expect(seen.cookie).not.toContain('dashboard-secret');
    expect(seen.api).toMatch(/^refused/);
    expect(seen.own).not.toBe('200');
    await q.close();
    // The refusals of what was tried there are expected (the sandbox CSP blocks
    // the fetches; the sign-in script cannot reach storage in a sandboxed page).
    await p.waitForTimeout(200);
    const expected = (s: string) => s.includes(`${origin}/jobs/`) || s.includes("lacks the 'allow-same-origin' flag");
    const mine = violations.filter(expected);
    expect(mine.some((v) => v.includes(`${w.web}/api/v1/me`))).toBe(true);
    violations.splice(0, violations.length, ...violations.filter((v) => !expected(v)));
    errors.splice(0, errors.length, ...errors.filter((e) => !expected(e)));

    // A tampered address is refused.
    const bad = new URL(src);
    const sig = bad.searchParams.get('sig') ?? '';
    bad.searchParams.set('sig', (sig.startsWith('A') ? 'B' : 'A') + sig.slice(1));
    expect((await fetch(bad)).status).toBe(403);
    await c.close();
  });
});

describe('the Caches tab', () => {
  it('lists a project’s caches for its readers, and lets a maintainer delete one', async () => {
    // A developer (the project token) sees the list, with no delete.
    const dev = await openContext(w, {}, projectToken);
    const d = await openPage(dev);
    await d.goto(`${w.web}/p/orig`);
    await d.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Caches' }).click();
    const row = d.locator('[data-testid="caches"] tr[data-key="go-mod/abc123"]');
    await row.waitFor();
    expect(await d.getByTestId('caches-total').textContent()).toContain('in 1 cache');
    expect(await row.getByRole('button', { name: /Delete/ }).count()).toBe(0);
    await dev.close();

    const c = await openContext(w, {}, ADMIN);
    const p = await openPage(c);
    await p.goto(`${w.web}/p/orig?tab=caches`);
    const mine = p.locator('[data-testid="caches"] tr[data-key="go-mod/abc123"]');
    await mine.waitFor();
    expect((await axe(p)).map((v) => v.text)).toEqual([]);
    const size = Number(
      (await call<{ items: Array<{ key: string; size: number }> }>(w.one.url, 'GET', '/api/v1/projects/orig/caches', ADMIN)).items[0]!.size,
    );
    expect(size).toBeGreaterThan(5000);
    await mine.getByRole('button', { name: 'Delete go-mod/abc123' }).click();
    await p.getByRole('button', { name: 'Delete', exact: true }).click();
    await p.getByRole('status').filter({ hasText: 'Cache go-mod/abc123 deleted.' }).waitFor();
    await p.getByText('No caches yet.').waitFor();
    expect((await call<{ items: unknown[] }>(w.one.url, 'GET', '/api/v1/projects/orig/caches', ADMIN)).items).toEqual([]);
    await c.close();
  });
});
