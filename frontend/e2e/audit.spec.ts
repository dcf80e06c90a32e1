// Every action has a name, in the browser against the real aura and PostgreSQL:
// the admin creates a project, sets a secret and renames the project; the Audit
// page (linked in the header for the admin only) lists each with its actor and
// filters them; a job cancelled on its page says who cancelled it and when.
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { axe, errors, openContext, openPage, violations } from './browser';
import { ADMIN, call, outDir, startWorld, stopWorld, until, type World } from './harness';

interface Job {
  id: number;
  status: string;
}

let w: World;
let ctx: BrowserContext;
let page: Page;
let projectToken = '';

beforeAll(async () => {
  w = await startWorld();
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

const rows = (p: Page) => p.locator('[data-testid=audit-entry]').allTextContents();

describe('audit', () => {
  it('records what the admin changes, and shows it on the Audit page', async () => {
    await page.goto(`${w.web}/new-project`);
    await page.fill('input[name=slug]', 'audited');
    await page.fill('input[name=name]', 'Audited');
    await page.click('button[type=submit]');
    projectToken = (await page.locator('[data-testid=token]').textContent({ timeout: 10_000 })) ?? '';
    expect(projectToken).toMatch(/^AURA_PROJECTKEY_/);

    await page.goto(`${w.web}/p/audited?tab=secrets`);
    await page.fill('input[name=secretName]', 'DEPLOY_KEY');
    await page.fill('input[name=secretValue]', 'hunter2-hunter2');
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.locator('[role=status]').waitFor();
    await call(w.one.url, 'PATCH', '/api/v1/projects/audited', ADMIN, { name: 'Audited and renamed' });

    await page.goto(`${w.web}/`);
    // The Audit page is in the user menu, for whoever may read it.
    await page.locator('header .user-menu summary').click();
    await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Audit' }).click();
    await page.locator('[data-testid=audit-entry]').first().waitFor();
    const text = await rows(page);
    expect(text[0]).toContain('project.update');
    expect(text[0]).toContain('admin');
    expect(text[0]).toContain('Audited and renamed');
    const secret = text.find((t) => t.includes('secret.set'));
    expect(secret).toContain('DEPLOY_KEY');
    expect(secret).toContain('admin');
    expect(text.join('\n')).not.toContain('hunter2-hunter2');
    expect(text.some((t) => t.includes('project.create'))).toBe(true);
    expect(text.some((t) => t.includes('token.create'))).toBe(true);

    // Filtering by action keeps the secret alone.
    await page.fill('input[name=action]', 'secret.set');
    await until('the filtered log', async () => (await rows(page)).length === 1);
    expect((await rows(page))[0]).toContain('DEPLOY_KEY');
    await page.screenshot({ path: join(outDir, 'audit-light-desktop.png'), fullPage: true });
    expect(await axe(page)).toEqual([]);
  });

  it('shows no Audit link to a project token', async () => {
    const other = await openContext(w, {}, projectToken);
    const p = await openPage(other);
    await p.goto(`${w.web}/`);
    await p.locator('main h1').first().waitFor();
    await p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runners' }).waitFor();
    expect(await p.locator('header').getByRole('link', { name: 'Audit', includeHidden: true }).count()).toBe(0);
    await other.close();
  });

  it('says who cancelled a job', async () => {
    const job = await call<Job>(w.one.url, 'POST', '/api/v1/jobs', projectToken, {
      project: 'audited', entityKey: 'commit', entityVal: 'abc', name: 'build', cmd: 'true', tag: 'nobody-runs-this',
    });
    await page.goto(`${w.web}/j/${job.id}`);
    await page.locator('[data-testid=submitted-by]').waitFor();
    expect(await page.locator('[data-testid=submitted-by]').textContent()).toContain('submitted by');
    await page.getByRole('button', { name: 'Cancel' }).click();
    const cancelled = page.locator('[data-testid=cancelled-by]');
    await cancelled.waitFor();
    const said = (await cancelled.textContent()) ?? '';
    expect(said).toMatch(/^cancelled by admin (just now|\d+ s ago)$/);
  });
});
