// Schedules in the web UI (issue 17): create one with its job templates, a bad
// time zone named on its field, Run now, the run's entity with its job, the
// last run on the schedule; an integration's Run on a commit; what a reader
// sees; axe and screenshots light/dark, phone/desktop.
import type { BrowserContext, Page } from 'playwright-core';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { axe, errors, lookName, looks, openContext, openPage, violations } from './browser';
import { ADMIN, call, outDir, startRunner, startWorld, stopWorld, until, type World } from './harness';

let w: World;
let ctx: BrowserContext;
let page: Page;

beforeAll(async () => {
  w = await startWorld();
  await call(w.one.url, 'POST', '/api/v1/projects', ADMIN, { slug: 'nightlies', name: 'Nightlies' });
  const runner = (await call<{ token: string }>(w.one.url, 'POST', '/api/v1/runners', ADMIN, { name: 'sched-runner', tags: ['sched-e2e'] })).token;
  startRunner(w, runner, ['sched-e2e']);
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

async function shoot(path: string, name: string, token: string | null, ready: (p: Page) => Promise<void>) {
  for (const look of looks) {
    const c = await openContext(w, look, token);
    const p = await openPage(c);
    await p.goto(`${w.web}${path}`);
    await ready(p);
    expect((await axe(p)).map((v) => `${lookName(look)}: ${v.text}`)).toEqual([]);
    await p.screenshot({ path: join(outDir, `${name}-${lookName(look)}.png`), fullPage: true });
    await c.close();
  }
}

describe('schedules', () => {
  it('creates a schedule, refusing a bad time zone on its field', async () => {
    await page.goto(`${w.web}/p/nightlies?tab=schedules`);
    await page.getByText('No schedules yet.').waitFor();
    await page.getByRole('button', { name: 'New schedule' }).click();
    const form = page.getByRole('form', { name: 'New schedule' });
    await form.locator('input[name="name"]').fill('nightly');
    await form.locator('input[name="cron"]').fill('0 2 * * *');
    await form.locator('input[name="timezone"]').fill('Mars/Olympus');
    await form.locator('input[name="job-0-tag"]').fill('sched-e2e');
    await form.locator('textarea[name="job-0-cmd"]').fill('echo "nightly build of $AURA_SCHEDULE with $GREETING"');
    await form.locator('textarea[name="job-0-env"]').fill('GREETING=hello');
    await form.getByRole('button', { name: 'Create schedule' }).click();
    await form.getByText('Mars/Olympus is unknown').waitFor();
    expect(await form.locator('input[name="timezone"]').getAttribute('aria-invalid')).toBe('true');
    await page.screenshot({ path: join(outDir, 'schedule-bad-zone.png'), fullPage: true });

    await form.locator('input[name="timezone"]').fill('Europe/Berlin');
    await form.getByRole('button', { name: 'Create schedule' }).click();
    const card = page.getByTestId('schedule-nightly');
    await card.getByText('0 2 * * *').waitFor();
    await card.getByText('in Europe/Berlin').waitFor();
    expect(await card.getByTestId('last-run').textContent()).toBe('never');
  });

  it('runs a schedule now: the entity appears with its job', async () => {
    const card = page.getByTestId('schedule-nightly');
    await card.getByRole('button', { name: 'Run now…' }).click();
    await card.locator('textarea[name="env"]').fill('EXTRA=1');
    await card.getByRole('button', { name: 'Run', exact: true }).click();
    const done = card.getByRole('status');
    await done.getByText('Submitted 1 job(s) to').waitFor();
    const link = done.getByRole('link');
    const entity = (await link.textContent()) ?? '';
    expect(entity).toMatch(/^nightly\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    // The last run links to the same entity, through the project's events.
    await card.getByTestId('last-run').getByRole('link', { name: entity }).waitFor();
    await card.getByTestId('last-run').getByText('submitted 1 job(s)').waitFor();

    await link.click();
    await page.waitForURL(/\/p\/nightlies\/nightly\//);
    const jobs = await until('the run to succeed', async () => {
      const e = await call<{ jobs: Array<{ id: number; name: string; status: string; env: Record<string, string> }> }>(
        w.one.url,
        'GET',
        `/api/v1/projects/nightlies/entities/${entity}`,
        ADMIN,
      );
      return e.jobs.length === 1 && e.jobs[0]?.status === 'succeeded' ? e.jobs : undefined;
    }, 30_000);
    expect(jobs[0]?.name).toBe('build');
    expect(jobs[0]?.env).toMatchObject({ GREETING: 'hello', EXTRA: '1', AURA_SCHEDULE: 'nightly' });
    const jobLink = `a[href="/j/${jobs[0]?.id}"]`;
    await page.locator(jobLink).first().waitFor();
    // Back on the schedule, the last run says how it went.
    await page.goto(`${w.web}/p/nightlies?tab=schedules`);
    await page.getByTestId('schedule-nightly').getByTestId('last-run').getByText('success').waitFor();
    await shoot('/p/nightlies?tab=schedules', 'schedules', ADMIN, (p) => p.getByTestId('schedule-nightly').getByTestId('last-run').getByText('success').waitFor());
    await shoot(`/p/nightlies/${entity}`, 'schedule-run', ADMIN, (p) => p.locator(jobLink).first().waitFor());
  });

  it('shows a reader the schedules without the controls', async () => {
    const c = await openContext(w, {}, null);
    const p = await openPage(c);
    await p.goto(`${w.web}/p/nightlies?tab=schedules`);
    await p.getByTestId('schedule-nightly').waitFor();
    expect(await p.getByRole('button', { name: 'Run now…' }).count()).toBe(0);
    expect(await p.getByRole('button', { name: 'New schedule' }).count()).toBe(0);
    expect(await p.getByRole('button', { name: 'Delete' }).count()).toBe(0);
    await c.close();
  });

  it("runs an integration's jobs on a commit", async () => {
    await call(w.one.url, 'POST', '/api/v1/projects/nightlies/integrations', ADMIN, {
      kind: 'generic',
      repository: 'team/app',
      jobs: [{ name: 'ci', cmd: 'echo "$AURA_GIT_SHA on $AURA_GIT_BRANCH"', tag: 'sched-e2e' }],
    });
    await page.goto(`${w.web}/p/nightlies?tab=integrations`);
    await page.getByRole('button', { name: 'Run…' }).click();
    const form = page.getByRole('form', { name: 'Run team/app' });
    const sha = 'c0ffee'.padEnd(40, '0');
    await form.locator('input[name="branch"]').fill('main');
    await form.locator('input[name="commit"]').fill(sha);
    await form.getByRole('button', { name: 'Run', exact: true }).click();
    await form.getByRole('link', { name: `commit/${sha}` }).waitFor();
    await page.screenshot({ path: join(outDir, 'integration-run.png'), fullPage: true });
    const e = await call<{ jobs: Array<{ env: Record<string, string> }> }>(w.one.url, 'GET', `/api/v1/projects/nightlies/entities/commit/${sha}`, ADMIN);
    expect(e.jobs[0]?.env).toMatchObject({ AURA_GIT_SHA: sha, AURA_GIT_BRANCH: 'main', AURA_GIT_REF: 'refs/heads/main' });
  });

  it('deletes a schedule', async () => {
    await page.goto(`${w.web}/p/nightlies?tab=schedules`);
    const card = page.getByTestId('schedule-nightly');
    await card.getByRole('button', { name: 'Delete' }).click();
    await card.getByRole('button', { name: 'Delete' }).last().click();
    await page.getByText('No schedules yet.').waitFor();
  });
});
