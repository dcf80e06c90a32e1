// Builds at a glance: the project page lists builds with their commit message
// and author, live; a failed job's last lines and annotations on the entity
// page link to their lines in the log; "Retry failed" starts the failed job
// again; the queue and the runners page show what runs now.
import type { BrowserContext, Page } from 'playwright-core';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { axe, errors, openContext, openPage, violations } from './browser';
import { ADMIN, call, outDir, startRunner, startWorld, stopWorld, until, type World } from './harness';

interface Job {
  id: number;
  status: string;
  attempt: number;
}

let w: World;
let ctx: BrowserContext;
let page: Page;
let projectToken = '';

const submit = (body: Record<string, unknown>) =>
  call<Job>(w.one.url, 'POST', '/api/v1/jobs', projectToken, { project: 'shop', entityKey: 'commit', tag: 'builds-e2e', cmd: 'true', ...body });
const job = (id: number) => call<Job>(w.one.url, 'GET', `/api/v1/jobs/${id}`, ADMIN);

// The failing job prints 30 lines, an annotation on line 12 and fails.
const FAILING = [
  'for i in $(seq 1 11); do echo "step $i"; done',
  'echo "::error file=cart/total.go,line=42,col=7,title=TestTotal::want 30, got 31"',
  'for i in $(seq 13 29); do echo "step $i"; done',
  'echo "FAIL shop/cart"',
  'exit 1',
].join('\n');

beforeAll(async () => {
  w = await startWorld();
  await call(w.one.url, 'POST', '/api/v1/projects', ADMIN, { slug: 'shop', name: 'Shop' });
  projectToken = (await call<{ token: string }>(w.one.url, 'POST', '/api/v1/projects/shop/tokens', ADMIN, { name: 'e2e' })).token;
  const runner = (await call<{ token: string }>(w.one.url, 'POST', '/api/v1/runners', ADMIN, { name: 'builds-runner', tags: ['builds-e2e'] })).token;
  startRunner(w, runner, ['builds-e2e']);
  ctx = await openContext(w, {}, ADMIN);
  page = await openPage(ctx);
});

afterAll(async () => {
  await stopWorld();
});

afterEach(() => {
  expect(violations.splice(0)).toEqual([]);
  expect(errors.splice(0)).toEqual([]);
});

describe('builds at a glance', () => {
  it('lists builds on the project page with message and author, live', async () => {
    await page.goto(`${w.web}/p/shop`);
    await page.getByText('No builds yet').waitFor();
    await submit({
      entityVal: 'a1b2c3d4e5f6',
      name: 'build',
      entityTitle: 'Add a cart total',
      entityMeta: { message: 'Add a cart total\n\nWith tests.', authorName: 'Ann Example', authorLogin: 'ann', branch: 'main' },
      collections: { ref: 'main' },
    });
    // No reload: the project's events bring it.
    const row = page.locator('[data-build="commit/a1b2c3d4e5f6"]');
    await row.getByText('Add a cart total').waitFor();
    await row.getByText('Ann Example').waitFor();
    await row.getByText('main', { exact: true }).waitFor();
    await until('the build to succeed on the page', async () => (await row.getAttribute('data-status')) === 'success', 30_000);
    expect(await row.locator('.sq').count()).toBe(1);
  });

  it('shows why a job failed on the entity page, linking to the log lines, and retries the failed jobs', async () => {
    const meta = {
      message: 'Round the cart total',
      authorName: 'Bob Example',
      authorLogin: 'bob',
      branch: 'rounding',
      requestNumber: 7,
      requestTitle: 'Round totals',
      commitUrl: 'https://forge.example/shop/commit/ff00ff00ff00',
      requestUrl: 'https://forge.example/shop/pulls/7',
    };
    const failing = await submit({ entityVal: 'ff00ff00ff00', name: 'test', cmd: FAILING, entityTitle: 'Round the cart total', entityMeta: meta, collections: { mr: '7' } });
    await submit({ entityVal: 'ff00ff00ff00', name: 'deploy', precedingJobs: [failing.id] });
    await until('the test job to fail', async () => (await job(failing.id)).status === 'failed', 30_000);

    // The project page: the failed build, filtered by status and by author.
    await page.goto(`${w.web}/p/shop?status=failure`);
    await page.locator('[data-build="commit/ff00ff00ff00"]').getByText('Round totals').waitFor();
    expect(await page.locator('[data-build]').count()).toBe(1);
    await page.goto(`${w.web}/p/shop?author=ann`);
    await page.locator('[data-build="commit/a1b2c3d4e5f6"]').waitFor();
    expect(await page.locator('[data-build]').count()).toBe(1);

    await page.goto(`${w.web}/p/shop/commit/ff00ff00ff00`);
    await page.getByRole('heading', { name: 'Round the cart total' }).waitFor();
    expect(await page.getByTestId('commit-link').getAttribute('href')).toBe(meta.commitUrl);
    expect(await page.getByTestId('request-link').getAttribute('href')).toBe(meta.requestUrl);
    const why = page.locator('.why-failed');
    const ann = why.locator('.ann-link').first();
    await ann.waitFor();
    expect(await ann.textContent()).toContain('want 30, got 31');
    expect(await ann.getAttribute('href')).toBe(`/j/${failing.id}#L12`);
    const last = why.locator('.tail-line').last();
    expect(await last.textContent()).toContain('FAIL shop/cart');
    expect(await last.getAttribute('href')).toBe(`/j/${failing.id}#L30`);
    expect(await why.locator('.tail-line').count()).toBe(20);
    for (const dark of [false, true]) {
      await page.emulateMedia({ colorScheme: dark ? 'dark' : 'light' });
      expect((await axe(page)).map((p) => p.text)).toEqual([]);
      await page.screenshot({ path: join(outDir, `build-failed-${dark ? 'dark' : 'light'}.png`), fullPage: true });
    }
    await page.emulateMedia({ colorScheme: 'light' });

    // The annotation opens the log at its line.
    await ann.click();
    await page.waitForURL(`**/j/${failing.id}#L12`);
    await page.locator('.log-line').first().waitFor();

    // Retry failed: the failed job runs again, and the job it skipped waits for it.
    await page.goto(`${w.web}/p/shop/commit/ff00ff00ff00`);
    await page.getByRole('button', { name: 'Retry failed' }).click();
    await page.getByText('1 job started again').waitFor();
    await until('the second attempt', async () => (await job(failing.id)).attempt === 2, 30_000);
    await until('the second attempt to fail too', async () => (await job(failing.id)).status === 'failed', 30_000);
  });

  it('shows running jobs apart on the queue and on their runner, and cancels a whole build', async () => {
    const slow = await submit({ entityVal: 'bbbbbbbbbbbb', name: 'slow', cmd: 'sleep 60', entityTitle: 'A slow one' });
    await submit({ entityVal: 'bbbbbbbbbbbb', name: 'after', precedingJobs: [slow.id] });
    await until('the slow job to run', async () => (await job(slow.id)).status === 'running', 30_000);
    await page.goto(`${w.web}/queue`);
    const running = page.locator(`[data-running="${slow.id}"]`);
    await running.getByText('builds-runner').waitFor();
    expect(await running.locator('.status.st-running').count()).toBe(1);
    await page.goto(`${w.web}/runners`);
    await page.getByTestId('runner-jobs').getByText('slow').waitFor();
    for (const dark of [false, true]) {
      await page.emulateMedia({ colorScheme: dark ? 'dark' : 'light' });
      expect((await axe(page)).map((p) => p.text)).toEqual([]);
    }
    await page.emulateMedia({ colorScheme: 'light' });

    await page.goto(`${w.web}/p/shop`);
    const row = page.locator('[data-build="commit/bbbbbbbbbbbb"]');
    await until('the build to show running', async () => (await row.getAttribute('data-status')) === 'running');
    for (const dark of [false, true]) {
      for (const phone of [false, true]) {
        const c = await openContext(w, { dark, phone }, ADMIN);
        const p = await openPage(c);
        await p.goto(`${w.web}/p/shop`);
        await p.locator('[data-build]').first().waitFor();
        await p.screenshot({ path: join(outDir, `builds-${dark ? 'dark' : 'light'}-${phone ? 'phone' : 'desktop'}.png`), fullPage: true });
        expect((await axe(p)).map((x) => x.text)).toEqual([]);
        await c.close();
      }
    }

    await page.goto(`${w.web}/p/shop/commit/bbbbbbbbbbbb`);
    await page.getByRole('button', { name: 'Cancel all' }).click();
    await page.getByRole('group').getByRole('button', { name: 'Cancel all' }).click();
    await page.getByText('2 jobs cancelled').waitFor();
    await until('the slow job to be cancelled', async () => (await job(slow.id)).status === 'cancelled', 30_000);
  });
});
