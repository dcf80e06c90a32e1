// me.ts knows who the signed-in token belongs to, as the server says
// (GET /api/v1/me), and what it may do. The app shows only what this answer says,
// never what a token's look suggests.
//
// A signed-in user's session is a cookie the browser sends by itself; a pasted
// token (local storage) goes as a bearer header and wins while it is kept.
import { useEffect, useState } from 'react';
import { api, errorText, setToken, token, type Schemas } from './client';
import { AUTH_LOST, reconnect } from './events';
import { forgetAll } from './query';

export type Me = Schemas['Me'];

export const ANONYMOUS: Me = {
  kind: 'anonymous',
  permissions: { admin: false, createProjects: false, manageRunners: false, manageUsers: false, readAudit: false, projects: {} },
};

let current: Me | undefined;
let loading: Promise<void> | undefined;
const listeners = new Set<(m: Me | undefined) => void>();

// asked counts the answers published: an answer to a question asked before
// another was published (a sign-in, a sign-out) is stale.
let asked = 0;

function publish(m: Me | undefined) {
  asked++;
  current = m;
  for (const f of listeners) f(m);
}

// askServer asks the server whose token t is: the answer, or why it was refused.
export async function askServer(t: string | null): Promise<{ me?: Me; error?: string; status: number }> {
  const r = await fetch('/api/v1/me', { headers: t ? { Authorization: `Bearer ${t}` } : {}, credentials: 'same-origin' });
  const body: unknown = await r.json().catch(() => undefined);
  if (r.ok) return { me: body as Me, status: r.status };
  return { error: errorText(body, r.status), status: r.status };
}

// load asks about the stored token. One the server refuses (revoked, expired, a
// job's token after its job) is dropped: kept, it would hide even public projects.
function load(fresh = false): Promise<void> {
  if (loading && !fresh) return loading;
  const mine = ask();
  loading = mine;
  void mine.finally(() => {
    if (loading === mine) loading = undefined;
  });
  return mine;
}

async function ask(): Promise<void> {
  const t = token();
  const at = asked;
  try {
    const r = await askServer(t);
    // A sign-in or sign-out meanwhile has published its own answer.
    if (token() !== t || asked !== at) return;
    if (r.me) publish(r.me);
    else if (r.status === 401) {
      // A refused token is dropped; a refused session cookie (revoked, its user
      // disabled) leaves the caller anonymous too.
      if (t) setToken(null);
      publish(ANONYMOUS);
    }
  } catch {
    // Offline: ask again on the next use.
  }
}

// signIn keeps t only if the server knows it: it returns the server's refusal, or
// undefined once signed in.
export async function signIn(t: string): Promise<string | undefined> {
  const r = await askServer(t).catch((e: unknown) => ({ error: String(e), me: undefined, status: 0 }));
  if (!r.me) return r.error ?? 'the server did not answer';
  setToken(t);
  publish(r.me);
  return undefined;
}

// refreshMe asks the server again who the caller is (after a password sign-in,
// or when the server closed the event stream because the session stopped), and
// fetches anew what the pages show when the answer changed. The first answer is
// no change: what the pages fetched before it went with the same credentials.
export async function refreshMe(): Promise<Me | undefined> {
  const before = current;
  await load(true);
  if (before !== undefined && JSON.stringify(before) !== JSON.stringify(current)) {
    forgetAll();
    // The event stream speaks for whom the socket was opened for.
    reconnect();
  }
  return current;
}

// SIGNED_KEY is bumped in local storage on a cookie sign-in or sign-out, which
// other tabs hear (the cookie itself tells them nothing).
const SIGNED_KEY = 'aura.signed';

function tellTabs() {
  try {
    localStorage.setItem(SIGNED_KEY, String(Date.now()));
  } catch {
    // No storage: other tabs learn at their next question.
  }
}

// signedIn publishes the caller a cookie sign-in made; a pasted token is dropped,
// or it would go on speaking for the browser.
export async function signedIn(): Promise<void> {
  if (token()) setToken(null);
  await refreshMe();
  tellTabs();
}

// signOut ends the session (when there is one) and forgets a pasted token. The
// page says signed out once the server has ended the session, not before: what
// it shows then is what the server says.
export async function signOut(): Promise<void> {
  // The token goes first, so the DELETE names the session only.
  setToken(null);
  // Without a session this only clears the cookie: harmless.
  await api.DELETE('/api/v1/session').catch(() => undefined);
  publish(ANONYMOUS);
  forgetAll();
  reconnect();
  tellTabs();
  // What is left (a session cookie the server kept) says who we are.
  void load(true);
}

if (typeof window !== 'undefined') {
  window.addEventListener(AUTH_LOST, () => void refreshMe());
  window.addEventListener('storage', (ev) => {
    if (ev.key === SIGNED_KEY) void refreshMe();
  });
}

// useMe is the caller as the server described it; undefined until it answered.
export function useMe(): Me | undefined {
  const [me, setMe] = useState(current);
  useEffect(() => {
    listeners.add(setMe);
    const again = () => void load();
    // Another tab signed in or out.
    window.addEventListener('storage', again);
    if (current === undefined) void load();
    else setMe(current);
    return () => {
      listeners.delete(setMe);
      window.removeEventListener('storage', again);
    };
  }, []);
  return me;
}

// mayAct says whether me may cancel, retry and approve jobs of project.
export function mayAct(me: Me | undefined, project: string): boolean {
  if (!me) return false;
  const p = me.permissions.projects[project];
  return me.permissions.admin || (!!p && p.cancel && p.retry && p.approve);
}

// userOf is the signed-in user, when the caller is one.
export function userOf(me: Me | undefined): Schemas['User'] | undefined {
  return me?.kind === 'user' && me.user ? me.user : undefined;
}

// mayManageMembers says whether me may add, change and remove project's members.
export function mayManageMembers(me: Me | undefined, project: string): boolean {
  return !!me && (me.permissions.admin || !!me.permissions.projects[project]?.manage);
}

// mayReadMembers says whether me may list project's members (viewer and up).
export function mayReadMembers(me: Me | undefined, project: string): boolean {
  return !!me && (me.permissions.admin || !!me.permissions.projects[project]?.read);
}

// kindText names the caller for the header: "admin", "project proj", "runner r1".
export function kindText(me: Me): string {
  if (me.kind === 'user') return me.user?.displayName || me.name || 'user';
  return me.kind === 'admin' || !me.name ? me.kind : `${me.kind} ${me.name}`;
}
