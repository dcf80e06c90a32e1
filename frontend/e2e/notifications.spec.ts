// Notification rules in the web UI (issue 17), against the real aura, a real
// runner and a webhook receiver on loopback: add a rule (its signing secret shown
// once), see the API's 400 at the form, edit, get a signed delivery when a build
// fails, delete; the tab is for maintainers only; axe and screenshots.
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { axe, openContext, openPage, violations, type Look } from './browser';
import { ADMIN, call, outDir, startRunner, startWorld, stopWorld, until, type World } from './harness';

const PROJECT = 'notes';
let w: World;
let ctx: BrowserContext;
let page: Page;
let receiver: Server;
let hookURL = '';
let projectToken = '';
const got: Array<{ headers: Record<string, string | string[] | undefined>; body: string }> = [];

const context = (look: Look = {}, token: string | null = ADMIN) => openContext(w, look, token);

beforeAll(async () => {
  w = await startWorld();
  receiver = createServer((req, res) => {
    let b = '';
    req.on('data', (c: Buffer) => (b += c.toString()));
    req.on('end', () => {
      got.push({ headers: req.headers, body: b });
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const a = receiver.address();
  hookURL = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/aura`;
  await call(w.one.url, 'POST', '/api/v1/projects', ADMIN, { slug: PROJECT, name: 'Notified' });
  projectToken = (await call<{ token: string }>(w.one.url, 'POST', `/api/v1/projects/${PROJECT}/tokens`, ADMIN, { name: 'e2e' })).token;
  ctx = await context();
  page = await openPage(ctx);
});

afterAll(async () => {
  receiver?.close();
  await stopWorld();
});

afterEach(() => {
  expect(violations.splice(0)).toEqual([]);
});

describe('notification rules in the web UI', () => {
  let secret = '';

  it('adds a webhook rule and shows its secret once, and the API’s 400 at the form', async () => {
    await page.goto(`${w.web}/p/${PROJECT}`);
    await page.getByRole('link', { name: 'Notifications' }).click();
    expect(new URL(page.url()).search).toBe('?tab=notifications');
    await page.getByText('No notification rules yet.').waitFor();

    const form = page.locator('[data-testid=notification-form]').last();
    await form.locator('select[name=kind]').selectOption('discord');
    await form.locator('input[name=target]').fill('ftp://files.example/hook');
    await form.getByRole('button', { name: 'Add rule' }).click();
    await form.locator('[role=alert]').waitFor();
    expect(await form.locator('input[name=target]').getAttribute('aria-invalid')).toBe('true');

    await form.locator('select[name=kind]').selectOption('webhook');
    await form.locator('input[name=target]').fill(hookURL);
    await form.locator('input[name=allowPrivateNetwork]').check();
    await form.getByRole('button', { name: 'Add rule' }).click();
    const once = page.locator('[data-testid=notification-secret]');
    await once.waitFor();
    secret = (await once.locator('code').textContent()) ?? '';
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    await page.screenshot({ path: join(outDir, 'notifications-secret-light-desktop.png'), fullPage: true });
    await once.getByRole('button', { name: 'Done, I saved the secret' }).click();
    await page.locator('[data-testid=notifications] td', { hasText: hookURL }).waitFor();
    expect(await page.locator('main').textContent()).not.toContain(secret);
  });

  it('edits a rule', async () => {
    await page.getByRole('button', { name: 'Edit' }).click();
    const form = page.locator('[data-testid=notifications] [data-testid=notification-form]');
    await form.locator('input[name=on-success]').check();
    await form.getByRole('button', { name: 'Save rule' }).click();
    await page.locator('[data-testid=notifications] td', { hasText: 'failure, fixed, success' }).waitFor();
  });

  it('delivers a signed notification when a build fails', async () => {
    const runner = await call<{ token: string }>(w.one.url, 'POST', '/api/v1/runners', ADMIN, { name: 'notes', tags: ['notes'] });
    startRunner(w, runner.token, ['notes']);
    await call(w.one.url, 'POST', '/api/v1/jobs', projectToken, {
      project: PROJECT,
      entityKey: 'commit',
      entityVal: 'c0ffee',
      name: 'test',
      cmd: 'exit 3',
      tag: 'notes',
      collections: { ref: 'main' },
    });
    const d = await until('the notification', () => got[0], 60_000);
    const sig = `sha256=${createHmac('sha256', secret).update(d.body).digest('hex')}`;
    expect(d.headers['x-aura-signature-256']).toBe(sig);
    expect(d.headers['x-aura-event']).toBe('failure');
    expect(JSON.parse(d.body)).toMatchObject({ event: 'failure', project: PROJECT, entityKey: 'commit', entityValue: 'c0ffee', failedJobs: ['test'] });
    await page.reload();
    await page.locator('[data-testid=notifications] td', { hasText: 'ago' }).first().waitFor();
  });

  it('has no serious accessibility violations and screenshots the tab', async () => {
    const problems: string[] = [];
    for (const dark of [false, true]) {
      for (const phone of [false, true]) {
        const look = `${dark ? 'dark' : 'light'}-${phone ? 'phone' : 'desktop'}`;
        const c = await context({ dark, phone });
        const p = await openPage(c);
        await p.goto(`${w.web}/p/${PROJECT}?tab=notifications`);
        await p.locator('[data-testid=notifications]').waitFor();
        await p.screenshot({ path: join(outDir, `notifications-${look}.png`), fullPage: true });
        problems.push(...(await axe(p)).map((v) => `${look}: ${v.text}`));
        await c.close();
      }
    }
    expect(problems).toEqual([]);
  });

  it('is not shown to visitors who do not maintain the project', async () => {
    const c = await context({}, null);
    const p = await openPage(c);
    await p.goto(`${w.web}/p/${PROJECT}`);
    await p.getByText('Notified').first().waitFor();
    expect(await p.getByRole('link', { name: 'Notifications' }).count()).toBe(0);
    await c.close();
  });

  it('deletes a rule', async () => {
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('group', { name: /^Delete this webhook rule/ }).getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No notification rules yet.').waitFor();
    const left = await call<{ items: unknown[] }>(w.one.url, 'GET', `/api/v1/projects/${PROJECT}/notifications`, ADMIN);
    expect(left.items).toEqual([]);
  });
});
