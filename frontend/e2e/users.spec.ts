// Users in the browser (issue 15): signing in with a user name and password and
// out again, a wrong password, a forged cross-site POST refused, a viewer who sees
// no Cancel button and whose forged cancel gets 403, a disabled user thrown out of
// an open page; and the pages that manage all this (users, invitations, account,
// the project's members). Against the real bin/aura, PostgreSQL and chromium.
import { createServer, type Server } from 'node:http';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { axe, errors, openContext, openPage, violations } from './browser';
import { ADMIN, call, freePort, sleep, startWorld, stopWorld, until, type World } from './harness';

const XSS = '<img src=x onerror="window.__xss=1">';
const PASSWORD = 'correct horse battery staple';
let w: World;
let projectToken = '';
let queued: { id: number; status: string };
const contexts: BrowserContext[] = [];

interface User {
  id: number;
  name: string;
  displayName: string;
  disabled: boolean;
}

const admin = <T>(method: string, path: string, body?: unknown) => call<T>(w.one.url, method, path, ADMIN, body);

async function anonymous(): Promise<BrowserContext> {
  const c = await openContext(w, {}, null);
  contexts.push(c);
  return c;
}

// signIn signs in through the sign-in page and waits for the user menu.
async function signIn(c: BrowserContext, user: string, password: string, displayName: string): Promise<Page> {
  const p = await openPage(c);
  await p.goto(`${w.web}/signin`);
  await p.fill('input[name=user]', user);
  await p.fill('input[name=password]', password);
  await p.click('form[aria-label="Sign in with a user name"] button[type=submit]');
  await p.locator('header .signin', { hasText: displayName }).waitFor();
  return p;
}

// status is the answer's status of a request the page makes itself, as a script
// on it would (same origin: the cookie goes along).
function status(p: Page, method: string, path: string, body?: unknown): Promise<number> {
  return p.evaluate(
    async ([m, u, b]) => (await fetch(u, { method: m, headers: { 'content-type': 'application/json' }, body: b === undefined ? null : JSON.stringify(b) })).status,
    [method, path, body] as const,
  );
}

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
  // A private project, one job of it that waits (no runner has its tag), and users:
  // alice (developer), vera (viewer), mona (maintainer).
  await admin('POST', '/api/v1/projects', { slug: 'secret', name: 'Secret project', private: true });
  projectToken = (await admin<{ token: string }>('POST', '/api/v1/projects/secret/tokens', { name: 'ci' })).token;
  queued = await call(w.one.url, 'POST', '/api/v1/jobs', projectToken, {
    project: 'secret',
    entityKey: 'commit',
    entityVal: 'abc123',
    name: 'build',
    cmd: 'true',
    tag: 'nobody-serves-this',
  });
  for (const [name, displayName, role] of [
    ['alice', 'Alice Liddell', 'developer'],
    ['vera', `Vera ${XSS}`, 'viewer'],
    ['mona', 'Mona Maintainer', 'maintainer'],
  ] as const) {
    await admin('POST', '/api/v1/users', { name, displayName, email: `${name}@example.org`, password: PASSWORD });
    await admin('PUT', `/api/v1/projects/secret/members/${name}`, { role });
  }
});

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await stopWorld();
});

afterEach(() => {
  expect(violations.splice(0)).toEqual([]);
});

describe('users in the browser', () => {
  it('signs in with a password into an HttpOnly, SameSite=Lax cookie, and out again', async () => {
    const c = await anonymous();
    const p = await signIn(c, 'alice', PASSWORD, 'Alice Liddell');
    const cookie = (await c.cookies()).find((k) => k.name === 'aura_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    // The session is the cookie: no token in the page's storage, none readable by script.
    expect(await p.evaluate(() => localStorage.getItem('aura.token'))).toBeNull();
    expect(await p.evaluate(() => document.cookie)).not.toContain('aura_session');
    // The private project is there for its member.
    await p.goto(`${w.web}/`);
    await p.getByText('Secret project').first().waitFor();

    await p.locator('header .signin').click();
    await p.getByRole('link', { name: 'Account' }).waitFor();
    // Alice is no admin: no Users, no Audit.
    expect(await p.locator('header .user-menu a', { hasText: /^(Users|Audit)$/ }).count()).toBe(0);
    // The page says signed out only once the server ended the session, however
    // slow its answer (it said so at once, and a look at /api/v1/me right then
    // still found the user).
    await p.route(/\/api\/v1\/session$/, async (r) => {
      await sleep(500);
      await r.continue();
    });
    await p.locator('header .user-menu').getByRole('button', { name: 'Sign out' }).click();
    await p.locator('header .signin', { hasText: /^Sign in$/ }).waitFor();
    const me = await p.evaluate(async () => (await (await fetch('/api/v1/me')).json()) as { kind: string });
    expect(me.kind).toBe('anonymous');
    // Signed out means gone from the server, not only from this page.
    await p.goto(`${w.web}/`);
    await p.locator('main h1').first().waitFor();
    await p.waitForFunction(() => !document.body.textContent?.includes('Loading'));
    expect(await p.locator('main').textContent()).not.toContain('Secret project');
  });

  it('says the same for a wrong password and an unknown user, and keeps nobody signed in', async () => {
    const c = await anonymous();
    const p = await openPage(c);
    for (const [user, password] of [
      ['alice', 'not her password'],
      ['nobody-at-all', PASSWORD],
    ]) {
      await p.goto(`${w.web}/signin`);
      await p.fill('input[name=user]', user!);
      await p.fill('input[name=password]', password!);
      await p.click('form[aria-label="Sign in with a user name"] button[type=submit]');
      await p.locator('form [role=alert]', { hasText: 'wrong user name or password' }).waitFor();
      expect(await p.locator('header .signin').textContent()).toBe('Sign in');
    }
    expect((await c.cookies()).some((k) => k.name === 'aura_session')).toBe(false);
  });

  it('refuses a forged cross-site POST that carries the session cookie', async () => {
    const c = await anonymous();
    const p = await signIn(c, 'alice', PASSWORD, 'Alice Liddell');
    // Another origin on the same site (another port of 127.0.0.1): SameSite=Lax
    // lets the cookie go along, so only the cross-origin check stands in the way.
    const target = new URL(w.web);
    const evil: Server = createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>evil</title><p>nothing to see</p>');
    });
    const port = await freePort();
    await new Promise<void>((ok) => evil.listen(port, '127.0.0.1', ok));
    try {
      const e = await openPage(c);
      await e.goto(`http://127.0.0.1:${port}/`);
      const answer = e.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/me/tokens' && r.request().method() === 'POST');
      // A "simple" request: no preflight, as a form or a no-cors fetch would send.
      await e.evaluate(
        (url) =>
          void fetch(url, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{"name":"forged"}' }).catch(
            () => undefined,
          ),
        `${target.origin}/api/v1/me/tokens`,
      );
      expect((await answer).status()).toBe(403);
      await e.close();
    } finally {
      evil.close();
    }
    // Nothing was made, and the same request from the app itself works.
    const tokens = await p.evaluate(async () => (await (await fetch('/api/v1/me/tokens')).json()) as Array<{ name: string }>);
    expect(tokens.map((t) => t.name)).not.toContain('forged');
    expect(await status(p, 'POST', '/api/v1/me/tokens', { name: 'made-here' })).toBe(201);
  });

  it('shows a viewer no Cancel button, and answers their forged cancel 403', async () => {
    const c = await anonymous();
    const p = await signIn(c, 'vera', PASSWORD, 'Vera');
    await inert(p);
    await p.goto(`${w.web}/j/${queued.id}`);
    await p.locator('.meta .status', { hasText: 'queued' }).waitFor();
    await p.waitForFunction(() => !document.body.textContent?.includes('Loading'));
    expect(await p.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
    expect(await p.getByRole('button', { name: 'Retry' }).count()).toBe(0);
    // The request the button would have made, from the page itself (same origin).
    expect(await status(p, 'POST', `/api/v1/jobs/${queued.id}/cancel`)).toBe(403);
    expect((await call<{ status: string }>(w.one.url, 'GET', `/api/v1/jobs/${queued.id}`, ADMIN)).status).toBe('queued');
    // The members tab shows the roles, with nothing to change.
    await p.goto(`${w.web}/p/secret?tab=members`);
    await p.locator('[data-testid=members] tr', { hasText: 'alice' }).waitFor();
    expect(await p.locator('main select, main button.danger').count()).toBe(0);
    await inert(p);

    // A developer sees the button and may cancel.
    const d = await signIn(await anonymous(), 'alice', PASSWORD, 'Alice Liddell');
    await d.goto(`${w.web}/j/${queued.id}`);
    await d.getByRole('button', { name: 'Cancel' }).waitFor();
  });

  it('throws a disabled user out of the page they have open', async () => {
    await admin('POST', '/api/v1/users', { name: 'dora', displayName: 'Dora Disabled', email: 'dora@example.org', password: PASSWORD });
    await admin('PUT', '/api/v1/projects/secret/members/dora', { role: 'developer' });
    const c = await anonymous();
    const p = await signIn(c, 'dora', PASSWORD, 'Dora Disabled');
    await p.goto(`${w.web}/p/secret`);
    await p.locator('main h1', { hasText: 'Secret project' }).waitFor();
    await p.waitForFunction(() => !document.body.textContent?.includes('Loading'));

    await admin('PATCH', '/api/v1/users/dora', { disabled: true });
    // The server closes the page's event stream; the page asks who it is now and
    // shows what an anonymous caller sees: no user, no private project.
    await p.locator('header .signin', { hasText: /^Sign in$/ }).waitFor({ timeout: 10_000 });
    await p.locator('main [role=alert]').waitFor({ timeout: 10_000 });
    expect(await p.locator('main').textContent()).not.toContain('Secret project');
    // And signing in again is refused.
    await p.goto(`${w.web}/signin`);
    await p.fill('input[name=user]', 'dora');
    await p.fill('input[name=password]', PASSWORD);
    await p.click('form[aria-label="Sign in with a user name"] button[type=submit]');
    await p.locator('form [role=alert]').waitFor();
    expect(await p.locator('header .signin').textContent()).toBe('Sign in');
  });

  it('lets an admin invite a user, who sets a password once through the link', async () => {
    const c = await openContext(w, {}, ADMIN);
    contexts.push(c);
    const p = await openPage(c);
    await p.goto(`${w.web}/users`);
    await p.locator('[data-testid=users] tr', { hasText: 'alice' }).waitFor();
    await p.fill('input[name=name]', 'carol');
    await p.fill('input[name=displayName]', `Carol ${XSS}`);
    await p.fill('input[name=email]', 'carol@example.org');
    await p.click('form button[type=submit]');
    const link = (await p.locator('[data-testid=invitation]').textContent()) ?? '';
    expect(new URL(link).pathname).toMatch(/^\/invite\/./);
    await p.locator('[data-testid=users] tr', { hasText: 'carol' }).waitFor();
    await inert(p);

    const q = await openPage(await anonymous());
    await q.goto(link.replace(new URL(link).origin, w.web));
    await q.getByText('carol').first().waitFor();
    await q.fill('input[name=password]', PASSWORD);
    await q.fill('input[name=again]', PASSWORD);
    await q.click('form button[type=submit]');
    await q.locator('header .signin', { hasText: 'Carol' }).waitFor();
    await inert(q);
    // Once only.
    await q.goto(link.replace(new URL(link).origin, w.web));
    await q.locator('main [role=alert]').waitFor();

    // Disable and enable from the page.
    await p.getByRole('button', { name: 'Disable carol' }).click();
    await p.getByRole('button', { name: 'Enable carol' }).waitFor();
    expect((await admin<User[]>('GET', '/api/v1/users')).find((u) => u.name === 'carol')?.disabled).toBe(true);
    await p.getByRole('button', { name: 'Enable carol' }).click();
    await p.getByRole('button', { name: 'Disable carol' }).waitFor();
  });

  it('makes a personal token shown once that acts as its user, and lists the sessions', async () => {
    const c = await anonymous();
    const p = await signIn(c, 'alice', PASSWORD, 'Alice Liddell');
    await p.goto(`${w.web}/account`);
    await p.locator('[data-testid=sessions] .pill', { hasText: 'this session' }).waitFor();
    await p.fill('input[name=tokenName]', 'laptop');
    await p.click('button:has-text("Create token")');
    const token = (await p.locator('[data-testid=token]').textContent()) ?? '';
    expect(token).toMatch(/^AURA_USERKEY_/);
    const me = await call<{ kind: string; name: string }>(w.one.url, 'GET', '/api/v1/me', token);
    expect(me).toMatchObject({ kind: 'user', name: 'alice' });
    await p.getByRole('button', { name: 'Revoke laptop' }).click();
    await p.getByRole('button', { name: 'Revoke token', exact: true }).click();
    await until('the token to be revoked', async () => {
      const r = await fetch(`${w.one.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
      return r.status === 401;
    });
  });

  it('lets a maintainer add a member and change a role on the Members tab', async () => {
    await admin('POST', '/api/v1/users', { name: 'newbie', displayName: 'New Bie', email: 'newbie@example.org', password: PASSWORD });
    const p = await signIn(await anonymous(), 'mona', PASSWORD, 'Mona Maintainer');
    await p.goto(`${w.web}/p/secret?tab=members`);
    await p.locator('[data-testid=members] tr', { hasText: 'alice' }).waitFor();
    await p.fill('input[name=member]', 'newbie');
    await p.selectOption('select[name=role]', 'viewer');
    await p.click('button:has-text("Add member")');
    await p.locator('[data-testid=members] tr', { hasText: 'newbie' }).waitFor();
    await p.selectOption('select[aria-label="Role of newbie"]', 'developer');
    await until('the role to change', async () => {
      const ms = await admin<Array<{ user: string; role: string }>>('GET', '/api/v1/projects/secret/members');
      return ms.find((m) => m.user === 'newbie')?.role === 'developer';
    });
  });

  it('passes axe on the new pages', async () => {
    const problems: string[] = [];
    const admins = await openContext(w, {}, ADMIN);
    contexts.push(admins);
    const a = await openPage(admins);
    const u = await signIn(await anonymous(), 'mona', PASSWORD, 'Mona Maintainer');
    const pages: Array<[Page, string]> = [
      [a, '/signin'],
      [a, '/users'],
      [u, '/account'],
      [u, '/p/secret?tab=members'],
      [a, '/signin?error=your%20organisation%20is%20not%20allowed'],
    ];
    for (const [p, path] of pages) {
      await p.goto(w.web + path);
      await p.locator('main h1').first().waitFor();
      await p.waitForFunction(() => !document.body.textContent?.includes('Loading'));
      for (const v of await axe(p)) problems.push(`${path}: ${v.text}`);
    }
    expect(problems).toEqual([]);
    expect(errors).toEqual([]);
  });
});
