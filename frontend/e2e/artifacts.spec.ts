// Artifacts in the browser against the real aura, PostgreSQL and aura-runner: a
// job uploads a folder (an HTML report whose script would mark the dashboard, an
// image, a text file) and single files; the job page lists them as a tree with
// sizes and checksums, opens the report in a sandbox where its script does not
// run, shows the image and the text, downloads a file as its exact bytes (with
// the token of a private project), and says when a file expired; the entity
// page lists the job's artifacts too.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { axe, errors, openContext, openPage, violations } from './browser';
import { join } from 'node:path';
import { ADMIN, call, outDir, startRunner, startWorld, stopWorld, until, type World } from './harness';
import { formatSize } from '../src/lib/artifactTree';

interface Job {
  id: number;
  status: string;
}
interface Artifact {
  path: string;
  size: number;
  sha256: string;
  contentType: string;
  expiresAt: string | null;
}

let w: World;
let projectToken = '';

afterEach(() => {
  expect(violations.splice(0)).toEqual([]);
  expect(errors.splice(0)).toEqual([]);
});

// The report's script would retitle the dashboard and write into its storage, from
// the frame (parent, top) and as if it were the page itself.
const HTML =
  "<!doctype html><html><head><title>report</title></head><body><h1>Coverage 93%</h1>" +
  "<script>parent.document.title='pwned'; window.top.localStorage.setItem('x','pwned'); document.body.insertAdjacentHTML('beforeend','<p id=ran>ran</p>')</script>" +
  '<img src=x onerror="parent.document.title=\'pwned\'"></body></html>';
// A 1×1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const TEXT = 'line one\n<b>not bold</b>\n';
const JSON_TEXT = '{"passed":12,"failed":0}';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

const CMD = [
  'set -e',
  'mkdir -p report/img',
  `echo ${b64(HTML)} | base64 -d > report/index.html`,
  `echo ${b64(PNG)} | base64 -d > report/img/dot.png`,
  `echo ${b64(TEXT)} | base64 -d > report/notes.txt`,
  `echo ${b64(JSON_TEXT)} | base64 -d > summary.json`,
  'echo old > old.txt',
  'aura-runner artifact upload report summary.json',
  'aura-runner artifact upload --expire 1s old.txt',
  'sleep 1.5',
].join('\n');

// runJob runs CMD in project and waits for it to succeed.
async function runJob(project: string, token: string): Promise<Job> {
  const job = await call<Job>(w.one.url, 'POST', '/api/v1/jobs', token, { project, entityKey: 'commit', entityVal: 'abc', name: 'build', cmd: CMD, tag: 'arts' });
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
  w = await startWorld();
  await call(w.one.url, 'POST', '/api/v1/projects', ADMIN, { slug: 'arts', name: 'Artifacts', private: true });
  projectToken = (await call<{ token: string }>(w.one.url, 'POST', '/api/v1/projects/arts/tokens', ADMIN, { name: 'e2e' })).token;
  await call(w.one.url, 'POST', '/api/v1/projects', ADMIN, { slug: 'open', name: 'Open' });
  const runner = await call<{ token: string }>(w.one.url, 'POST', '/api/v1/runners', ADMIN, { name: 'arts', tags: ['arts'] });
  startRunner(w, runner.token, ['arts']);
});

afterAll(async () => {
  await stopWorld();
});

describe('artifacts', () => {
  let job: Job;
  let items: Artifact[] = [];

  it('a job uploads a folder and files', async () => {
    job = await runJob('arts', projectToken);
    items = (await call<{ items: Artifact[] }>(w.one.url, 'GET', `/api/v1/jobs/${job.id}/artifacts`, projectToken)).items;
    expect(items.map((a) => a.path).sort()).toEqual(['old.txt', 'report/img/dot.png', 'report/index.html', 'report/notes.txt', 'summary.json']);
    // The private project's bytes need the token.
    expect((await fetch(`${w.one.url}/api/v1/jobs/${job.id}/artifacts/summary.json`)).ok).toBe(false);
  });

  it('the job page lists them as a tree with sizes and checksums, opens them without running their script, and downloads exact bytes', async () => {
    const c = await openContext(w, {}, ADMIN);
    const p = await openPage(c);
    await p.goto(`${w.web}/j/${job.id}`);
    const section = p.getByRole('region', { name: 'Artifacts' });
    await section.locator('[data-path="summary.json"]').waitFor();
    const title = await p.title();

    // A single file at the top, the folder folded.
    const json = section.locator('[data-path="summary.json"]');
    expect(await json.locator('.a-size').textContent()).toBe(formatSize(JSON_TEXT.length));
    expect(await json.locator('.a-sum').getAttribute('title')).toBe(`SHA-256 ${sha(JSON_TEXT)}`);
    expect(await json.locator('.a-sum').textContent()).toBe(sha(JSON_TEXT).slice(0, 12));
    const folder = section.locator('[data-path="report"] > details > summary');
    expect(await folder.textContent()).toContain('3 files');
    const html = section.locator('[data-path="report/index.html"]');
    expect(await html.isVisible()).toBe(false);
    await folder.click();
    await html.waitFor({ state: 'visible' });
    expect(await html.locator('.a-size').textContent()).toBe(formatSize(Buffer.byteLength(HTML)));
    expect(await html.locator('.a-sum').getAttribute('title')).toBe(`SHA-256 ${sha(HTML)}`);
    // The subfolder folds too.
    const png = section.locator('[data-path="report/img/dot.png"]');
    expect(await png.isVisible()).toBe(false);
    await section.locator('[data-path="report/img"] > details > summary').click();
    await png.waitFor({ state: 'visible' });
    expect(await png.locator('.a-size').textContent()).toBe(`${PNG.length} B`);
    expect(await png.locator('.a-sum').getAttribute('title')).toBe(`SHA-256 ${sha(PNG)}`);

    await p.screenshot({ path: join(outDir, 'artifacts-job.png') });
    // Readable and labelled, light and dark.
    for (const colorScheme of ['light', 'dark'] as const) {
      await p.emulateMedia({ colorScheme });
      expect((await axe(p)).map((v) => `${colorScheme}: ${v.text}`)).toEqual([]);
    }

    // The report opens in a frame, and its script runs neither there nor here.
    await html.getByRole('button', { name: 'View report/index.html' }).click();
    const dialog = p.getByRole('dialog', { name: 'report/index.html' });
    await dialog.waitFor();
    const frame = dialog.locator('iframe');
    // Say what the dialog shows instead (an error, still loading) if the frame never comes.
    await frame.waitFor().catch(async (e: unknown) => {
      throw new Error(`${String(e)}\nthe dialog shows: ${await dialog.innerText()}`);
    });
    expect(await frame.getAttribute('sandbox')).toBe('');
    await p.frameLocator('.a-viewer iframe').getByRole('heading', { name: 'Coverage 93%' }).waitFor();
    await p.waitForTimeout(500);
    await p.screenshot({ path: join(outDir, 'artifacts-report.png') });
    expect(await p.frameLocator('.a-viewer iframe').locator('#ran').count()).toBe(0);
    expect(await p.title()).toBe(title);
    expect(await p.evaluate(() => localStorage.getItem('x'))).toBeNull();
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });

    // The image and the text open too; the text as text, not markup.
    await png.getByRole('button', { name: 'View report/img/dot.png' }).click();
    const img = p.getByRole('dialog', { name: 'report/img/dot.png' }).locator('img');
    await until('the image to load', () => img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth === 1));
    await p.keyboard.press('Escape');
    const notes = section.locator('[data-path="report/notes.txt"]');
    await notes.getByRole('button', { name: 'View report/notes.txt' }).click();
    const pre = p.getByRole('dialog', { name: 'report/notes.txt' }).locator('pre');
    await pre.waitFor();
    expect(await pre.textContent()).toBe(TEXT);
    expect(await pre.locator('b').count()).toBe(0);
    await p.keyboard.press('Escape');

    // A download is the file itself, byte for byte, under its own name.
    const [dl] = await Promise.all([p.waitForEvent('download'), png.getByRole('button', { name: 'Download report/img/dot.png' }).click()]);
    expect(dl.suggestedFilename()).toBe('dot.png');
    expect(readFileSync((await dl.path())!).equals(PNG)).toBe(true);
    const [dl2] = await Promise.all([p.waitForEvent('download'), json.getByRole('button', { name: 'Download summary.json' }).click()]);
    expect(dl2.suggestedFilename()).toBe('summary.json');
    expect(readFileSync((await dl2.path())!, 'utf8')).toBe(JSON_TEXT);

    // An expired file says so instead of offering a broken link.
    const old = section.locator('[data-path="old.txt"]');
    expect(await old.textContent()).toContain('expired on');
    expect(await old.getByRole('button', { name: /Download|View/ }).count()).toBe(0);

    expect(await p.title()).toBe(title);
    expect(await p.evaluate(() => localStorage.getItem('x'))).toBeNull();
    await c.close();
  });

  it('the entity page lists every job’s artifacts', async () => {
    const c = await openContext(w, {}, ADMIN);
    const p = await openPage(c);
    await p.goto(`${w.web}/p/arts/commit/abc`);
    const mine = p.getByRole('region', { name: 'Artifacts of build' });
    await mine.waitFor();
    expect(await mine.getByRole('link', { name: 'build' }).getAttribute('href')).toBe(`/j/${job.id}`);
    expect(await mine.textContent()).toContain('5 files');
    await mine.locator('[data-path="summary.json"]').waitFor();
    await c.close();
  });

  it('a public project’s artifacts are linked, and its report framed from the server’s sandboxed address, for anyone', async () => {
    const openToken = (await call<{ token: string }>(w.one.url, 'POST', '/api/v1/projects/open/tokens', ADMIN, { name: 'e2e' })).token;
    const pub = await runJob('open', openToken);
    const c = await openContext(w, {}, null);
    const p = await openPage(c);
    await p.goto(`${w.web}/j/${pub.id}`);
    const section = p.getByRole('region', { name: 'Artifacts' });
    const json = section.locator('[data-path="summary.json"]');
    await json.waitFor();
    const title = await p.title();
    const link = json.getByRole('link', { name: 'Download summary.json' });
    expect(await link.getAttribute('href')).toBe(`/api/v1/jobs/${pub.id}/artifacts/summary.json`);
    const [dl] = await Promise.all([p.waitForEvent('download'), link.click()]);
    expect(dl.suggestedFilename()).toBe('summary.json');
    expect(readFileSync((await dl.path())!, 'utf8')).toBe(JSON_TEXT);

    await section.locator('[data-path="report"] > details > summary').click();
    await section.getByRole('button', { name: 'View report/index.html' }).click();
    const frame = p.getByRole('dialog', { name: 'report/index.html' }).locator('iframe');
    expect(await frame.getAttribute('src')).toBe(`/api/v1/jobs/${pub.id}/artifacts/report/index.html?inline=1`);
    expect(await frame.getAttribute('sandbox')).toBe('');
    await p.frameLocator('.a-viewer iframe').getByRole('heading', { name: 'Coverage 93%' }).waitFor();
    await p.waitForTimeout(500);
    expect(await p.frameLocator('.a-viewer iframe').locator('#ran').count()).toBe(0);
    expect(await p.title()).toBe(title);
    expect(await p.evaluate(() => localStorage.getItem('x'))).toBeNull();
    await c.close();
  });
});
