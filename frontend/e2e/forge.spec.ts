// The forge integration in the web UI (issue 9), against the real aura and a fake
// forge on loopback: connect a repository, see its secret once, deliver signed
// Gitea webhooks, send a test status, approve a fork's pull request, copy the
// badge Markdown, manage secrets, disconnect; axe and screenshots of every state.
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { axe, errors, openContext, openPage, violations, type Look } from './browser';
import { ADMIN, call, outDir, root, startWorld, stopWorld, until, type World } from './harness';
// The Go tests' recorded Gitea deliveries: everything a test reads lives in the repository.
const fixtures = resolve(root, 'backend/internal/integrations/testdata/webhooks/gitea');

const PROJECT = 'forge';
const REPO = 'gitea/webhooks';
const PUSH_SHA = 'bffeb74224043ba2feb48d137756c8a9331c449a';
const FORGE_TOKEN = 'forge-access-token-e2e';
const XSS = '<img src=x onerror="window.__xss=1">';

let w: World;
let ctx: BrowserContext;
let page: Page;
let forge: Server;
let forgeURL = '';
const statuses: Array<{ path: string; auth: string; body: { state: string; context: string; description: string; target_url: string } }> = [];

interface Job {
  id: number;
  name: string;
  status: string;
}

const newPage = openPage;
const context = (look: Look = {}) => openContext(w, look, ADMIN);

// axeIn is axe's serious and critical violations on p, named after the state shown.
async function axeIn(p: Page, name: string): Promise<string[]> {
  return (await axe(p)).map((v) => `${name}: ${v.text}`);
}

async function inert(p: Page) {
  const bad = await p.evaluate(() => ({
    xss: (window as unknown as { __xss?: number }).__xss,
    js: document.querySelectorAll('a[href^="javascript"], [onerror]').length,
  }));
  expect(bad).toEqual({ xss: undefined, js: 0 });
}

// deliver posts a Gitea webhook signed as Gitea signs it: hex HMAC-SHA256 of the
// exact bytes sent.
async function deliver(url: string, secret: string, event: string, body: string) {
  const sig = createHmac('sha256', secret).update(body).digest('hex');
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'X-Gitea-Event': event, 'X-Gitea-Delivery': randomUUID(), 'X-Gitea-Signature': sig },
    body,
  });
  return { status: r.status, body: (await r.json()) as { message: string; jobs: number[]; duplicate?: boolean } };
}

// forkPull is Gitea's recorded pull request, from the fork example2/example, aimed
// at our repository, at a head commit of our choosing.
function forkPull(sha: string): string {
  const p = JSON.parse(readFileSync(join(fixtures, 'pull_request-opened.json'), 'utf8')) as {
    repository: { full_name: string };
    pull_request: { head: { sha: string; repo: { full_name: string } }; base: { repo: { full_name: string } } };
  };
  p.repository.full_name = REPO;
  p.pull_request.base.repo.full_name = REPO;
  p.pull_request.head.sha = sha;
  expect(p.pull_request.head.repo.full_name).not.toBe(REPO);
  return JSON.stringify(p, null, '  ');
}

beforeAll(async () => {
  w = await startWorld();
  forge = createServer((req, res) => {
    let b = '';
    req.on('data', (c: Buffer) => (b += c.toString()));
    req.on('end', () => {
      statuses.push({ path: req.url ?? '', auth: req.headers.authorization ?? '', body: JSON.parse(b || '{}') as (typeof statuses)[number]['body'] });
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => forge.listen(0, '127.0.0.1', r));
  const a = forge.address();
  forgeURL = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/api/v1`;
  await call(w.one.url, 'POST', '/api/v1/projects', ADMIN, { slug: PROJECT, name: 'Forge demo' });
  ctx = await context();
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: w.web });
  page = await newPage(ctx);
});

afterAll(async () => {
  forge?.close();
  await stopWorld();
});

// No test may leave the app breaking its own Content-Security-Policy.
afterEach(() => {
  expect(violations.splice(0)).toEqual([]);
});

describe('forge integrations in the web UI', () => {
  let hook = '';
  let secret = '';
  let pushJob: Job;
  let approved: Job; // a fork's job, approved in the UI
  let pending: Job; // a fork's job left waiting, for the screenshots

  it('connects a repository in the UI, shows API errors at the form, and the secret once', async () => {
    await page.goto(`${w.web}/p/${PROJECT}`);
    await page.getByRole('link', { name: 'Integrations' }).click();
    expect(new URL(page.url()).search).toBe('?tab=integrations');
    await page.getByText('No repository is connected yet.').waitFor();
    await page.getByRole('button', { name: 'Connect a repository' }).click();
    await page.selectOption('select[name=kind]', 'gitea');
    await page.fill('input[name=repository]', REPO);
    await page.fill('input[name=apiUrl]', forgeURL);
    await page.fill('input[name=accessToken]', FORGE_TOKEN);
    await page.fill('input[name=job-0-name]', 'build');
    await page.fill('input[name=job-0-tag]', 'e2e');
    await page.fill('textarea[name=job-0-cmd]', `echo '${XSS}'`);
    await page.fill('textarea[name=job-0-env]', `GREETING=${XSS}`);
    // A second row, added and removed again.
    await page.getByRole('button', { name: 'Add a job' }).click();
    await page.locator('input[name=job-1-name]').waitFor();
    await page.getByRole('button', { name: 'Remove job 2' }).click();
    expect(await page.locator('input[name=job-1-name]').count()).toBe(0);

    // Loopback is refused until the admin allows the private network: the API's
    // 400 is shown at the form and marks the field.
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await page.locator('form [role=alert]', { hasText: 'private' }).waitFor();
    expect(await page.locator('input[name=apiUrl]').getAttribute('aria-invalid')).toBe('true');
    await page.check('input[name=allowPrivateNetwork]');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();

    const once = page.locator('[data-testid=shown-once]');
    await once.waitFor();
    hook = (await page.locator('[data-testid=webhook-url]').textContent()) ?? '';
    secret = (await page.locator('[data-testid=webhook-secret]').textContent()) ?? '';
    expect(hook).toMatch(new RegExp(`^${w.one.url}/api/v1/hooks/\\d+$`));
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(await once.textContent()).toContain('shown this one time only');
    await once.getByRole('button', { name: 'Copy secret' }).click();
    await once.getByRole('button', { name: 'Copied' }).waitFor();
    await until('the secret on the clipboard', async () => (await page.evaluate(() => navigator.clipboard.readText())) === secret);
    await page.screenshot({ path: join(outDir, 'forge-secret-once-light-desktop.png'), fullPage: true });
    expect(await axeIn(page, 'secret shown once')).toEqual([]);

    // The card lists it; the access token and secret never come back.
    const card = page.locator('[data-integration]');
    await card.getByText(REPO).waitFor();
    expect(await card.textContent()).toContain('with an access token');
    await page.getByRole('button', { name: 'Done, I saved the secret' }).click();
    await page.reload();
    await card.getByText(REPO).waitFor();
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).not.toContain(secret);
    expect(text).not.toContain(FORGE_TOKEN);
    expect(await page.locator('[data-testid=shown-once]').count()).toBe(0);
    await inert(page);
  });

  it('starts the job on a signed push and reports its status to the forge', async () => {
    const push = readFileSync(join(fixtures, 'push.json'), 'utf8');
    // A wrong signature creates nothing.
    expect((await deliver(hook, 'not-the-secret', 'push', push)).status).toBe(401);
    const res = await deliver(hook, secret, 'push', push);
    expect(res.status).toBe(200);
    expect(res.body.jobs).toHaveLength(1);
    pushJob = await call<Job>(w.one.url, 'GET', `/api/v1/jobs/${res.body.jobs[0]}`, ADMIN);
    expect(pushJob.name).toBe('build');

    // The integration says what the delivery did, live.
    await page.locator('[data-testid=last-delivery]').filter({ hasNotText: 'none yet' }).waitFor({ timeout: 20_000 });
    // The job is on the commit's page.
    await page.goto(`${w.web}/p/${PROJECT}/commit/${PUSH_SHA}`);
    await page.locator(`tr[data-job="${pushJob.id}"]`).waitFor();
    // The forge got a pending status for the commit, linking back to its page.
    const st = await until('a status for the push', () => statuses.find((s) => s.path.endsWith(`/statuses/${PUSH_SHA}`)));
    expect(st.path).toBe(`/api/v1/repos/gitea/webhooks/statuses/${PUSH_SHA}`);
    expect(st.auth).toBe(`token ${FORGE_TOKEN}`);
    expect(st.body.state).toBe('pending');
    expect(st.body.target_url).toBe(`${w.one.url}/p/${PROJECT}/commit/${PUSH_SHA}`);
  });

  it('sends a test status and shows what the forge answered', async () => {
    const sha = 'c0ffee'.padEnd(40, '0');
    await page.goto(`${w.web}/p/${PROJECT}?tab=integrations`);
    const send = page.getByRole('button', { name: 'Send a test status' });
    await send.waitFor();
    expect(await send.isDisabled()).toBe(true);
    await page.fill('input[name=testSha]', sha);
    await send.click();
    await page.locator('[data-testid=test-result]', { hasText: 'Delivered' }).waitFor();
    const st = await until('the test status', () => statuses.find((s) => s.path.endsWith(`/statuses/${sha}`)));
    expect(st.body).toMatchObject({ state: 'success', context: 'aura' });
    await page.locator('[data-testid=last-status]').filter({ hasNotText: 'none yet' }).waitFor();
  });

  it('shows a fork pull request waiting for approval, and approves it', async () => {
    const shaA = 'a'.repeat(40);
    const shaB = 'b'.repeat(40);
    const a = await deliver(hook, secret, 'pull_request', forkPull(shaA));
    expect(a.status).toBe(200);
    expect(a.body.message).toContain('approval');
    const jobsA = await Promise.all(a.body.jobs.map((id) => call<Job>(w.one.url, 'GET', `/api/v1/jobs/${id}`, ADMIN)));
    const gate = jobsA.find((j) => j.name === 'approval')!;
    approved = jobsA.find((j) => j.name === 'build')!;
    expect(gate.status).toBe('waiting');
    expect(approved.status).toBe('waiting');
    const b = await deliver(hook, secret, 'pull_request', forkPull(shaB));
    pending = (await Promise.all(b.body.jobs.map((id) => call<Job>(w.one.url, 'GET', `/api/v1/jobs/${id}`, ADMIN)))).find((j) => j.name === 'build')!;

    // The gate's own page says so too.
    await page.goto(`${w.web}/j/${gate.id}`);
    await page.locator('[data-testid=approval]', { hasText: 'Waits for a person to approve it' }).waitFor();
    expect(await page.locator('.meta').textContent()).not.toContain('no runner takes');

    await page.goto(`${w.web}/j/${approved.id}`);
    const box = page.locator('[data-testid=approval]');
    await box.getByText('Waits for a person to approve it').waitFor();
    expect(await box.textContent()).toContain('fork');
    await box.getByRole('button', { name: 'Approve' }).click();
    // Live: the job is queued and the note is gone, without a reload.
    await page.locator('.meta .status', { hasText: 'queued' }).waitFor({ timeout: 20_000 });
    await box.waitFor({ state: 'detached' });
    expect((await call<Job>(w.one.url, 'GET', `/api/v1/jobs/${gate.id}`, ADMIN)).status).toBe('succeeded');
    expect((await call<Job>(w.one.url, 'GET', `/api/v1/jobs/${pending.id}`, ADMIN)).status).toBe('waiting');
  });

  it('shows a fork request waiting for approval where people look: entity, queue, collection', async () => {
    // B is still held (the test above approved only A).
    const shaB = 'b'.repeat(40);
    await page.goto(`${w.web}/p/${PROJECT}/commit/${shaB}`);
    const banner = page.locator('[data-testid=entity-approval]');
    await banner.getByText('Waits for approval.').waitFor();
    await banner.getByRole('button', { name: 'Approve' }).waitFor();
    await page.locator(`table.jobs tr[data-job="${pending.id}"] .status`, { hasText: 'needs approval' }).waitFor();

    await page.goto(`${w.web}/queue?project=${PROJECT}`);
    const row = page.locator('tr', { has: page.locator(`a[href="/j/${pending.id}"]`) });
    await row.locator('.status', { hasText: 'needs approval' }).waitFor();
    expect(await row.textContent()).toContain('approve');

    await page.goto(`${w.web}/p/${PROJECT}/mr/2`);
    const list = page.locator('[data-testid=collection-approval]');
    await list.waitFor();
    expect(await list.textContent()).toContain(`commit/${shaB.slice(0, 12)}`);
    expect(await list.textContent()).not.toContain(`commit/${'a'.repeat(12)}`);

    // A third request, approved from its entity page.
    const shaC = 'c'.repeat(40);
    const c = await deliver(hook, secret, 'pull_request', forkPull(shaC));
    const build = (await Promise.all(c.body.jobs.map((id) => call<Job>(w.one.url, 'GET', `/api/v1/jobs/${id}`, ADMIN)))).find((j) => j.name === 'build')!;
    await page.goto(`${w.web}/p/${PROJECT}/commit/${shaC}`);
    await page.locator('[data-testid=entity-approval]').getByRole('button', { name: 'Approve' }).click();
    await page.locator('[data-testid=entity-approval]').waitFor({ state: 'detached', timeout: 20_000 });
    expect((await call<Job>(w.one.url, 'GET', `/api/v1/jobs/${build.id}`, ADMIN)).status).not.toBe('waiting');

    // Signed out, the banner says who may approve instead of offering it.
    const anon = await openContext(w, {}, null);
    const p = await newPage(anon);
    await p.goto(`${w.web}/p/${PROJECT}/commit/${shaB}`);
    await p.locator('[data-testid=entity-approval]', { hasText: 'Sign in' }).waitFor();
    expect(await p.locator('[data-testid=entity-approval] button').count()).toBe(0);
    await anon.close();
  });

  it('gives correct badge Markdown on the entity and collection pages, and the badge answers an SVG', async () => {
    for (const [path, badge] of [
      [`/p/${PROJECT}/commit/${PUSH_SHA}`, `/badge/${PROJECT}/commit/${PUSH_SHA}.svg`],
      [`/p/${PROJECT}/ref/develop`, `/badge/${PROJECT}/c/ref/develop.svg`],
    ] as const) {
      await page.goto(w.web + path);
      const md = page.locator('[data-testid=badge-markdown]');
      await md.waitFor();
      const origin = new URL(w.web).origin;
      expect(await md.inputValue()).toBe(`[![aura](${origin}${badge})](${origin}${path})`);
      expect(await page.locator('[data-testid=badge-url]').inputValue()).toBe(origin + badge);
      await page.locator('img[data-testid=badge-img]').waitFor();
      const r = await fetch(w.one.url + badge);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toContain('image/svg+xml');
      expect(await r.text()).toContain('<svg');
      await page.getByRole('button', { name: 'Copy Markdown' }).click();
      const want = await md.inputValue();
      await until('the Markdown on the clipboard', async () => (await page.evaluate(() => navigator.clipboard.readText())) === want);
    }
  });

  it('sets and deletes a project secret without ever showing its value', async () => {
    await page.goto(`${w.web}/p/${PROJECT}?tab=secrets`);
    await page.getByText('No secrets yet.').waitFor();
    await page.fill('input[name=secretName]', 'DEPLOY_KEY');
    await page.fill('input[name=secretValue]', 'short');
    // The browser stops a value under 8 characters; the API's own 400 is shown too.
    await page.locator('input[name=secretValue]').evaluate((e) => e.removeAttribute('minlength'));
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.locator('form [role=alert]').waitFor();
    await page.fill('input[name=secretValue]', 'hunter2-but-longer');
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.getByText('Secret DEPLOY_KEY created.').waitFor();
    await page.locator('[data-testid=secrets] td.mono', { hasText: 'DEPLOY_KEY' }).waitFor();
    expect(await page.locator('main').textContent()).not.toContain('hunter2');
    expect(await page.locator('input[name=secretValue]').inputValue()).toBe('');
    await page.fill('input[name=secretName]', 'OTHER_KEY');
    await page.fill('input[name=secretValue]', 'another-value-1');
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.locator('[data-testid=secrets] td.mono', { hasText: 'OTHER_KEY' }).waitFor();
    await page.getByRole('button', { name: 'Delete OTHER_KEY' }).click();
    await page.getByRole('group', { name: 'Delete secret OTHER_KEY?' }).getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Secret OTHER_KEY deleted.').waitFor();
    await page.locator('[data-testid=secrets] td.mono', { hasText: 'OTHER_KEY' }).waitFor({ state: 'detached' });
  });

  it('has no serious accessibility violations and screenshots every new page and state', async () => {
    const pages = [
      ['integrations', `/p/${PROJECT}?tab=integrations`, '[data-integration]'],
      ['secrets', `/p/${PROJECT}?tab=secrets`, '[data-testid=secrets]'],
      ['approval', `/j/${pending.id}`, '[data-testid=approval]'],
      ['entity-approval', `/p/${PROJECT}/commit/${'b'.repeat(40)}`, '[data-testid=entity-approval]'],
      ['collection-approval', `/p/${PROJECT}/mr/2`, '[data-testid=collection-approval]'],
      ['entity-badge', `/p/${PROJECT}/commit/${PUSH_SHA}`, 'img[data-testid=badge-img]'],
      ['collection-badge', `/p/${PROJECT}/ref/develop`, 'img[data-testid=badge-img]'],
    ] as const;
    const problems: string[] = [];
    for (const dark of [false, true]) {
      for (const phone of [false, true]) {
        const look = `${dark ? 'dark' : 'light'}-${phone ? 'phone' : 'desktop'}`;
        const c = await context({ dark, phone });
        const p = await newPage(c);
        for (const [name, path, ready] of pages) {
          await p.goto(w.web + path);
          await p.locator(ready).first().waitFor();
          await p.waitForFunction(() => !document.body.textContent?.includes('Loading'));
          await p.screenshot({ path: join(outDir, `forge-${name}-${look}.png`), fullPage: true });
          problems.push(...(await axeIn(p, `${name} ${look}`)));
        }
        // The states: the connect form, an inline confirmation, and a new secret shown once.
        await p.goto(`${w.web}/p/${PROJECT}?tab=integrations`);
        await p.getByRole('button', { name: 'Connect a repository' }).click();
        await p.locator('input[name=repository]').waitFor();
        await p.screenshot({ path: join(outDir, `forge-connect-form-${look}.png`), fullPage: true });
        problems.push(...(await axeIn(p, `connect form ${look}`)));
        await p.getByRole('button', { name: 'Cancel', exact: true }).click();
        await p.getByRole('button', { name: 'Disconnect' }).click();
        await p.getByRole('group', { name: /^Disconnect/ }).waitFor();
        await p.screenshot({ path: join(outDir, `forge-confirm-${look}.png`), fullPage: true });
        problems.push(...(await axeIn(p, `confirm ${look}`)));
        await p.getByRole('button', { name: 'No, keep it' }).click();
        await p.getByRole('button', { name: 'New webhook secret' }).click();
        await p.getByRole('button', { name: 'Make a new secret' }).click();
        await p.locator('[data-testid=shown-once]').waitFor();
        secret = (await p.locator('[data-testid=webhook-secret]').textContent()) ?? '';
        await p.screenshot({ path: join(outDir, `forge-secret-once-${look}.png`), fullPage: true });
        problems.push(...(await axeIn(p, `secret once ${look}`)));
        await c.close();
      }
    }
    console.log(`screenshots in ${outDir}`);
    expect(problems).toEqual([]);
    // The newest secret is the one that works.
    const push = readFileSync(join(fixtures, 'push.json'), 'utf8');
    expect((await deliver(hook, secret, 'push', push)).body.duplicate).toBe(true);
  }, 600_000);

  it('disconnects the repository after an inline confirmation', async () => {
    await page.goto(`${w.web}/p/${PROJECT}?tab=integrations`);
    await page.locator('[data-integration]').waitFor();
    await page.getByRole('button', { name: 'Disconnect' }).click();
    const ask = page.getByRole('group', { name: /^Disconnect gitea\/webhooks\?/ });
    await ask.waitFor();
    await ask.getByRole('button', { name: 'Disconnect' }).click();
    await page.getByText('No repository is connected yet.').waitFor();
    const push = readFileSync(join(fixtures, 'push.json'), 'utf8');
    // A removed integration answers like a wrong signature: ids cannot be enumerated.
    expect((await deliver(hook, secret, 'push', push)).status).toBe(401);
    expect(errors).toEqual([]);
  });
});
