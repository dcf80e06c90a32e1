// The web UI against the real aura (two servers on one database), PostgreSQL and
// aura-runner, in headless chromium: everything a user does, live.
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { axe, errors, openContext, openPage, violations, type Look } from './browser';
import { ADMIN, call, outDir, sleep, startRunner, startWorld, stopWorld, until, type World } from './harness';

const XSS = '<img src=x onerror="window.__xss=1">';
let w: World;
let ctx: BrowserContext;
let page: Page;
let projectToken = '';

interface Job {
  id: number;
  status: string;
}

const newPage = openPage;
const context = (look: Look = {}) => openContext(w, look, ADMIN);

const submit = (body: Record<string, unknown>) => call<Job>(w.one.url, 'POST', '/api/v1/jobs', projectToken, { project: 'demo', tag: 'e2e', ...body });

async function inert(p: Page) {
  const bad = await p.evaluate(() => ({
    xss: (window as unknown as { __xss?: number }).__xss,
    imgs: document.querySelectorAll('img').length,
    js: document.querySelectorAll('a[href^="javascript"], [onerror]').length,
  }));
  expect(bad).toEqual({ xss: undefined, imgs: 0, js: 0 });
}

beforeAll(async () => {
  w = await startWorld();
  ctx = await context();
  page = await newPage(ctx);
});

afterAll(async () => {
  await stopWorld();
});

// No test may leave the app breaking its own Content-Security-Policy.
afterEach(() => {
  expect(violations.splice(0)).toEqual([]);
});

describe('aura web UI', () => {
  let runnerToken = '';
  let runner: ReturnType<typeof startRunner> | undefined;
  const ensureRunner = () => (runner ??= startRunner(w, runnerToken, ['e2e']));
  let build: Job;
  let test: Job;

  it('serves the app under its Content-Security-Policy, and sees a violation of it', async () => {
    const res = await page.goto(`${w.web}/`);
    const csp = (await res?.headerValue('content-security-policy')) ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-eval');
    await page.locator('main h1').first().waitFor();
    // An inline script, as an injected payload would be: refused, and reported.
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inline = 1';
      document.body.append(s);
    });
    await until('the violation report', () => violations.length >= 2);
    expect(await page.evaluate(() => (window as unknown as { __inline?: number }).__inline)).toBeUndefined();
    expect(violations.join('\n')).toMatch(/script-src/);
    violations.length = 0;
  });

  it('creates a project and a runner in the UI', async () => {
    await page.goto(`${w.web}/new-project`);
    await page.fill('input[name=slug]', 'demo');
    await page.fill('input[name=name]', XSS);
    await page.click('button[type=submit]');
    projectToken = (await page.locator('[data-testid=token]').textContent({ timeout: 10_000 })) ?? '';
    expect(projectToken).toMatch(/^AURA_PROJECTKEY_/);

    await page.goto(`${w.web}/new-runner`);
    await page.fill('input[name=name]', 'r1');
    await page.fill('input[name=tags]', 'e2e');
    await page.fill('input[name=projects]', 'demo');
    await page.click('button[type=submit]');
    await page.getByText('of demo only').waitFor();
    runnerToken = (await page.locator('[data-testid=token]').textContent({ timeout: 10_000 })) ?? '';
    expect(runnerToken).toMatch(/^AURA_RUNNERKEY_/);
    const cmd = await page.locator('[data-testid=command]').textContent();
    expect(cmd).toContain(`--token ${runnerToken}`);
    expect(cmd).toContain('--tag e2e');

    await page.goto(`${w.web}/`);
    await page.getByText(XSS).first().waitFor();
    await inert(page);
  });

  it('signs in only with a token the server knows, and shows what /me says', async () => {
    const c = await openContext(w, {}, null);
    const p = await newPage(c);
    await p.goto(`${w.web}/sign-in`);
    // The token form is folded under the user name and password.
    await p.locator('summary', { hasText: 'Sign in with a token' }).click();
    await p.fill('input[name=token]', 'AURA_ADMINKEY_not-a-real-one');
    await p.click('form[aria-label="Sign in with a token"] button[type=submit]');
    await p.locator('form [role=alert]', { hasText: 'not accepted' }).waitFor();
    expect(await p.locator('header .signin').textContent()).toBe('Sign in');
    expect(await p.evaluate(() => localStorage.getItem('aura.token'))).toBeNull();
    // The public projects are still there.
    await p.goto(`${w.web}/`);
    await p.getByText(XSS).first().waitFor();

    await p.goto(`${w.web}/sign-in`);
    await p.locator('summary', { hasText: 'Sign in with a token' }).click();
    await p.fill('input[name=token]', projectToken);
    await p.click('form[aria-label="Sign in with a token"] button[type=submit]');
    await p.locator('header .signin', { hasText: 'Signed in (project demo)' }).waitFor();
    await p.getByText(XSS).first().waitFor();
    await p.goto(`${w.web}/sign-in`);
    await p.getByRole('button', { name: 'Sign out' }).click();
    await p.locator('header .signin', { hasText: /^Sign in$/ }).waitFor();
    await c.close();

    // A stored token the server refuses (revoked, or only looking like an admin's)
    // is dropped: the header never claims it, and the public projects stay.
    const stale = await openContext(w, {}, 'AURA_ADMINKEY_looks-right');
    const q = await newPage(stale);
    await q.goto(`${w.web}/`);
    await q.getByText(XSS).first().waitFor();
    expect(await q.locator('header .signin').textContent()).toBe('Sign in');
    expect(await q.locator('main').textContent()).not.toContain('New project');
    await stale.close();
  });

  it('shows jobs going queued → running → succeeded live, with their log', async () => {
    build = await submit({
      entityKey: 'commit',
      entityVal: 'abc123',
      name: 'build',
      cmd: 'echo start; sleep 1.5; for i in 1 2 3; do echo "line $i"; sleep 0.3; done; echo done',
      collections: { ref: 'main' },
    });
    test = await submit({
      entityKey: 'commit',
      entityVal: 'abc123',
      name: 'test',
      cmd: `printf '%s\\n' '${XSS}'; printf '\\033]8;;javascript:window.__xss=1\\033\\\\click me\\033]8;;\\033\\\\\\n'; printf '\\033[31mred\\033[0m \\033[1mbold\\033[0m\\n'; printf '\\033[38;5;196m%.0s' $(seq 1 2000); echo bomb; echo "value=$XSSVAR"`,
      env: { XSSVAR: XSS },
      precedingJobs: [build.id],
      collections: { ref: 'main' },
    });
    expect(build.status).toBe('queued');
    expect(test.status).toBe('waiting');

    // The entity page before any runner: the graph shows both jobs.
    const ent = await newPage(ctx);
    await ent.goto(`${w.web}/p/demo/commit/abc123`);
    await ent.locator(`.graph [data-job="${test.id}"][data-status=waiting]`).waitFor();
    const grid = await newPage(ctx);
    await grid.goto(`${w.web}/p/demo/ref/main`);
    await grid.locator('.grid .cell[data-status=queued]').waitFor();

    // What a queued job waits for is the server's sentence (waitingFor.runner), as
    // it is: the page asks for no runners to judge by itself.
    const runnerRequests: string[] = [];
    const seeRequest = (r: { url(): string }) => {
      if (new URL(r.url()).pathname === '/api/v1/runners') runnerRequests.push(r.url());
    };
    page.on('request', seeRequest);
    await page.goto(`${w.web}/j/${build.id}`);
    await page.locator('.meta .status', { hasText: 'queued' }).waitFor();
    await page.locator('.waits', { hasText: 'no runner has ever asked for tag e2e' }).waitFor();
    page.off('request', seeRequest);
    expect(runnerRequests).toEqual([]);
    ensureRunner();
    await page.locator('.meta .status', { hasText: 'running' }).waitFor({ timeout: 20_000 });
    await page.locator('.log-line', { hasText: 'start' }).first().waitFor();
    await page.locator('.log-line', { hasText: 'line 2' }).first().waitFor({ timeout: 10_000 });
    await page.locator('.meta .status', { hasText: 'succeeded' }).waitFor({ timeout: 20_000 });
    await page.locator('.log-line', { hasText: 'done' }).first().waitFor();

    // The graph and grid followed without a reload.
    await ent.locator(`.graph [data-job="${build.id}"][data-status=succeeded]`).waitFor({ timeout: 20_000 });
    await ent.locator(`.graph [data-job="${test.id}"][data-status=succeeded]`).waitFor({ timeout: 20_000 });
    await grid.locator('.grid .cell[data-status=succeeded]').nth(1).waitFor({ timeout: 20_000 });
    await ent.close();
    await grid.close();
  });

  it('keeps markup in names, env and log inert', async () => {
    await page.goto(`${w.web}/j/${test.id}`);
    await page.locator('.log-line', { hasText: 'value=' }).waitFor({ timeout: 20_000 });
    // The javascript: link is text, not a link.
    await page.locator('.log-line .lt > span', { hasText: 'click me' }).waitFor();
    await page.locator('summary', { hasText: 'Command and environment' }).click();
    await page.locator('.env', { hasText: XSS }).waitFor();
    // The printf line and the env value's line.
    expect(await page.locator('.log-line', { hasText: XSS }).count()).toBe(2);
    const red = await page.locator('.log-line .lt > span', { hasText: 'red' }).first().evaluate((e) => getComputedStyle(e).color);
    const plain = await page.locator('.log-line .lt > span', { hasText: 'value=' }).first().evaluate((e) => getComputedStyle(e).color);
    expect(red).not.toBe(plain);
    await inert(page);
  });

  it('reloads a deep link to a line', async () => {
    await page.goto(`${w.web}/j/${build.id}#L3`);
    await page.reload();
    const line = page.locator('.log-line[data-line="3"]');
    await line.waitFor();
    expect(await line.getAttribute('class')).toContain('sel');
    expect(await line.textContent()).toContain('line 2');
    // Shift-click extends the selection.
    await page.locator('.log-line[data-line="5"] .ln').click({ modifiers: ['Shift'] });
    expect(new URL(page.url()).hash).toBe('#L3-L5');
  });

  it('cancels a running job from its page and the process is gone', async () => {
    const job = await submit({ entityKey: 'commit', entityVal: 'abc123', name: 'long', cmd: 'echo "pid=$$"; sleep 60' });
    await page.goto(`${w.web}/j/${job.id}`);
    const pidLine = await page.locator('.log-line', { hasText: 'pid=' }).first().textContent({ timeout: 20_000 });
    const pid = Number(/pid=(\d+)/.exec(pidLine ?? '')?.[1]);
    expect(pid).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('.meta .status', { hasText: 'cancelled' }).waitFor({ timeout: 20_000 });
    await until('the job process to end', () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  });

  it('opens, searches and scrolls a 50 MB log without long tasks', async () => {
    // 500,000 lines of 100 bytes, with a group and colours now and then.
    const cmd = `awk 'BEGIN { pad = sprintf("%80s", ""); gsub(/ /, "x", pad); for (i = 1; i <= 500000; i++) { if (i % 100000 == 1) print "::group::part " i; printf "line %07d \\033[32m%s\\033[0m\\n", i, pad; if (i % 100000 == 0) print "::endgroup::" } }'`;
    ensureRunner();
    const job = await submit({ entityKey: 'commit', entityVal: 'big', name: 'big', cmd });
    const done = await until(
      'the big job to end',
      async () => {
        const j = await call<Job & { logLength: number }>(w.one.url, 'GET', `/api/v1/jobs/${job.id}`, null);
        return j.status === 'succeeded' ? j : undefined;
      },
      90_000,
    );
    expect(done.logLength).toBeGreaterThan(50_000_000);
    const p = await newPage(ctx);
    const t0 = Date.now();
    await p.goto(`${w.web}/j/${job.id}`);
    await p.locator('.log-line', { hasText: 'line 0500000' }).waitFor({ timeout: 10_000 });
    const tail = Date.now() - t0;
    await p.locator('.log-size', { hasText: /^[\d,]+ lines$/ }).waitFor({ timeout: 60_000 });
    const indexed = Date.now() - t0;
    const lines = await p.locator('.log-size').textContent();
    const domRows = await p.locator('.log-line').count();
    await p.evaluate(() => ((window as unknown as { __long: number[] }).__long = []));
    const s0 = Date.now();
    await p.fill('input[type=search]', 'line 0250000');
    await p
      .locator('.count', { hasText: '1 / 1' })
      .waitFor({ timeout: 30_000 })
      .catch(async (e: unknown) => {
        throw new Error(`search: count ${await p.locator('.count').textContent()}, bar ${await p.locator('.log-bar').textContent()}: ${String(e)}`);
      });
    const searched = Date.now() - s0;
    await p.locator('.log-line.match', { hasText: 'line 0250000' }).waitFor();
    // Scroll through the log in big and small steps.
    const box = p.locator('.log-box');
    for (let k = 0; k < 40; k++) {
      await box.evaluate((el, k) => {
        el.scrollTop = (el.scrollHeight * ((k * 37) % 100)) / 100;
      }, k);
      await sleep(30);
    }
    await p.mouse.move(700, 400);
    for (let k = 0; k < 20; k++) {
      await p.mouse.wheel(0, -800);
      await sleep(20);
    }
    await sleep(300);
    const long = await p.evaluate(() => (window as unknown as { __long: number[] }).__long);
    console.log(
      `big log: ${done.logLength} bytes, ${lines}; tail shown in ${tail} ms, all lines in ${indexed} ms; search in ${searched} ms; ${domRows} rows in the DOM; long tasks while searching and scrolling: ${JSON.stringify(long.map(Math.round))}`,
    );
    // The figures above are the measurement (the budget: tail within 1 s, no task over
    // 50 ms). The assertions leave room for a machine shared with other builds, and
    // still catch what breaks viewers: rendering every line, or decoding on the page.
    expect(tail).toBeLessThan(10_000);
    expect(domRows).toBeLessThan(400);
    expect(long.filter((d) => d > 250)).toEqual([]);
    await p.close();
  }, 300_000);

  it('labels a job skipped, and why, on the job, entity and collection pages', async () => {
    ensureRunner();
    const broken = await submit({ entityKey: 'commit', entityVal: 'skip1', name: 'compile', cmd: 'exit 2', collections: { ref: 'skips' } });
    const after = await submit({ entityKey: 'commit', entityVal: 'skip1', name: 'package', cmd: 'true', precedingJobs: [broken.id], collections: { ref: 'skips' } });
    const cancelled = await submit({ entityKey: 'commit', entityVal: 'skip1', name: 'manual', tag: 'nobody', cmd: 'true', collections: { ref: 'skips' } });
    await call(w.one.url, 'POST', `/api/v1/jobs/${cancelled.id}/cancel`, projectToken);
    await until('the dependant to be skipped', async () => (await call<Job>(w.one.url, 'GET', `/api/v1/jobs/${after.id}`, null)).status === 'cancelled', 30_000);
    const why = `compile #${broken.id} failed`;

    await page.goto(`${w.web}/j/${after.id}`);
    await page.locator('.meta .status', { hasText: 'skipped' }).waitFor();
    expect(await page.locator('.meta').textContent()).toContain(why);

    await page.goto(`${w.web}/p/demo/commit/skip1`);
    const row = page.locator(`table.jobs tr[data-job="${after.id}"]`);
    await row.locator('.status', { hasText: 'skipped' }).waitFor();
    expect(await row.textContent()).toContain(why);
    // One a person cancelled stays "cancelled".
    await page.locator(`table.jobs tr[data-job="${cancelled.id}"] .status`, { hasText: 'cancelled' }).waitFor();
    expect(await page.locator(`.graph [data-job="${after.id}"]`).getAttribute('data-label')).toBe('skipped');

    await page.goto(`${w.web}/p/demo/ref/skips`);
    const cell = page.locator(`.grid a[href="/j/${after.id}"]`);
    await cell.waitFor();
    expect(await cell.getAttribute('data-label')).toBe('skipped');
    expect(await cell.getAttribute('aria-label')).toContain(why);
  });

  it('names the browser tab after the page', async () => {
    await page.goto(`${w.web}/j/${build.id}`);
    await until('the job title', async () => (await page.title()) === `build #${build.id} · demo · Aura`);
    await page.goto(`${w.web}/p/demo/commit/abc123`);
    await until('the entity title', async () => (await page.title()) === 'commit/abc123 · demo · Aura');
    await page.goto(`${w.web}/p/demo`);
    await until('the project title', async () => (await page.title()) === `${XSS} · Aura`);
    await page.goto(`${w.web}/queue`);
    await until('the queue title', async () => (await page.title()) === 'Queue · Aura');
  });

  it('shows the whole job graph on a phone', async () => {
    // A chain of six jobs, and a fan of four: across, 1,200 px wide.
    let prev = await submit({ entityKey: 'commit', entityVal: 'chain', name: 'step1', tag: 'nobody', cmd: 'true' });
    const ids = [prev.id];
    for (let i = 2; i <= 6; i++) {
      prev = await submit({ entityKey: 'commit', entityVal: 'chain', name: `step${i}`, tag: 'nobody', cmd: 'true', precedingJobs: [prev.id] });
      ids.push(prev.id);
    }
    for (let i = 1; i <= 4; i++) ids.push((await submit({ entityKey: 'commit', entityVal: 'chain', name: `fan${i}`, tag: 'nobody', cmd: 'true', precedingJobs: [ids[0]!] })).id);
    const c = await context({ phone: true });
    const p = await newPage(c);
    await p.goto(`${w.web}/p/demo/commit/chain`);
    await p.locator(`.graph [data-job="${ids[ids.length - 1]}"]`).waitFor();
    const width = p.viewportSize()!.width;
    for (const id of ids) {
      const box = (await p.locator(`.graph [data-job="${id}"] rect`).boundingBox())!;
      expect(box.x, `job ${id} starts on screen`).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width, `job ${id} ends on screen`).toBeLessThanOrEqual(width);
    }
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
    await p.screenshot({ path: join(outDir, 'entity-graph-light-phone.png'), fullPage: true });
    await c.close();
  });

  it('has no serious accessibility violations, light and dark, phone and desktop, and screenshots every page', async () => {
    // Every status on the pages: a failed job, one queued for a tag no runner serves,
    // and one waiting for it.
    ensureRunner();
    const failed = await submit({ entityKey: 'commit', entityVal: 'abc123', name: 'lint', cmd: 'echo "3 problems"; exit 3', collections: { ref: 'main' } });
    const queued = await submit({ entityKey: 'commit', entityVal: 'abc123', name: 'test:gpu', tag: 'gpu', cmd: 'true', collections: { ref: 'main' } });
    const waiting = await submit({ entityKey: 'commit', entityVal: 'abc123', name: 'deploy', cmd: 'true', precedingJobs: [queued.id], collections: { ref: 'main' } });
    await until('the failing job to fail', async () => (await call<Job>(w.one.url, 'GET', `/api/v1/jobs/${failed.id}`, null)).status === 'failed', 30_000);
    const pages = [
      ['projects', '/'],
      ['project', '/p/demo'],
      ['key', '/p/demo/commit'],
      ['entity', '/p/demo/commit/abc123'],
      ['entity-skipped', '/p/demo/commit/skip1'],
      ['collection', '/p/demo/ref/main'],
      ['job', `/j/${build.id}`],
      ['job-ansi', `/j/${test.id}`],
      ['job-failed', `/j/${failed.id}`],
      ['job-waiting', `/j/${waiting.id}`],
      ['queue', '/queue'],
      ['runners', '/runners'],
      ['new-project', '/new-project'],
      ['new-runner', '/new-runner'],
      ['sign-in', '/sign-in'],
    ] as const;
    const problems: string[] = [];
    const logColours: string[] = [];
    for (const dark of [false, true]) {
      for (const phone of [false, true]) {
        const c = await context({ dark, phone });
        const p = await newPage(c);
        for (const [name, path] of pages) {
          await p.goto(w.web + path);
          await p.locator('main h1').first().waitFor();
          await p.waitForFunction(() => !document.body.textContent?.includes('Loading'));
          if (name.startsWith('job') && name !== 'job-waiting') await p.locator('.log-line').first().waitFor();
          const variant = `${dark ? 'dark' : 'light'}-${phone ? 'phone' : 'desktop'}`;
          await p.screenshot({ path: join(outDir, `${name}-${variant}.png`) });
          for (const v of await axe(p)) {
            // A colour the log itself names (256-colour or 24-bit SGR, here 196 =
            // #ff0000) is drawn as given, whatever the theme. Whether the viewer
            // should raise its contrast, as terminals with a minimum contrast ratio
            // do, is the log viewer's decision: reported, not failed.
            const own = name === 'job-ansi' && v.rule === 'color-contrast' && / > \.lt > span$/.test(v.target);
            (own ? logColours : problems).push(`${name} ${variant}: ${v.text}`);
          }
        }
        await c.close();
      }
    }
    console.log(`screenshots in ${outDir}`);
    if (logColours.length > 0) console.log(`contrast of colours the log names (not failed):\n  ${logColours.join('\n  ')}`);
    expect(problems).toEqual([]);
    expect(errors).toEqual([]);
  }, 900_000);
});
