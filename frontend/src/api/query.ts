// query.ts is the web app's data cache: each piece of server data is a Query (a
// key, how to fetch it, and the event topics that change it), defined once in its
// resource's module (jobs.ts, projects.ts, …) and used by every page that shows it.
// Pages that ask for the same key at the same time share one entry: one request in
// flight, one cached answer, one subscription to its topics. The request is
// aborted, and the topics left, when the last page using the entry goes away; the
// answer stays cached a while so going back shows it at once (and fetches it anew).
import { useCallback, useEffect, useSyncExternalStore } from 'react';
import { errorText } from './client';
import { live, onLiveChange, subscribe } from './events';

export interface Result<T> {
  data?: T;
  error?: string;
  status?: number;
  field?: string; // the request field an error names (a form marks it)
}

// answer turns an openapi-fetch answer into a Result: its data, or the error as
// one sentence. A success without a body (204) is data null.
export async function answer<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<Result<T>> {
  const r = await p;
  const status = r.response.status;
  if (r.response.ok) return { data: (r.data ?? null) as T, status };
  const field = (r.error as { field?: unknown } | undefined)?.field;
  return { error: errorText(r.error, status), status, ...(typeof field === 'string' ? { field } : {}) };
}

export interface Query<T> {
  key: readonly unknown[];
  fetch: (signal: AbortSignal) => Promise<Result<T>>;
  topics?: readonly string[];
}

export interface QueryState<T> {
  data: T | undefined;
  error: string | undefined;
  status: number | undefined;
  loading: boolean;
}

const POLL_MS = 2000;
// How long an answer no page shows stays cached.
const KEEP_MS = 5 * 60_000;

interface Entry {
  key: string;
  query: Query<unknown>;
  state: QueryState<unknown>;
  watchers: Set<() => void>;
  ctl: AbortController | undefined; // the request in flight
  again: boolean; // an event came during the request: fetch once more after it
  stale: boolean; // fetch on the next watch
  open: boolean; // its topics are heard (from the first watch until a turn after the last)
  offs: Array<() => void>; // topic and poll subscriptions while open
  drop: ReturnType<typeof setTimeout> | undefined;
}

const entries = new Map<string, Entry>();
const IDLE: QueryState<never> = { data: undefined, error: undefined, status: undefined, loading: false };
const LOADING: QueryState<never> = { ...IDLE, loading: true };

export const keyOf = (key: readonly unknown[]): string => JSON.stringify(key);

function entry(q: Query<unknown>): Entry {
  const key = keyOf(q.key);
  let e = entries.get(key);
  if (!e) {
    e = {
      key,
      query: q,
      state: { data: undefined, error: undefined, status: undefined, loading: true },
      watchers: new Set(),
      ctl: undefined,
      again: false,
      stale: true,
      open: false,
      offs: [],
      drop: undefined,
    };
    entries.set(key, e);
  }
  return e;
}

function setState(e: Entry, s: Partial<QueryState<unknown>>) {
  e.state = { ...e.state, ...s };
  for (const w of e.watchers) w();
}

// run fetches e, or, while a request is in flight, once more after it (an event
// during a request may postdate what that request reads).
function run(e: Entry) {
  if (e.ctl) {
    e.again = true;
    return;
  }
  e.again = false;
  e.stale = false;
  const ctl = new AbortController();
  e.ctl = ctl;
  if (e.state.data === undefined && !e.state.loading) setState(e, { loading: true });
  const done = (r: Result<unknown>) => {
    if (ctl.signal.aborted) return;
    e.ctl = undefined;
    // A reload that fails keeps the data it had.
    if (r.data !== undefined) setState(e, { data: r.data, error: undefined, status: r.status, loading: false });
    else setState(e, { error: r.error ?? 'request failed', status: r.status, loading: false });
    if (e.again && e.watchers.size > 0) run(e);
  };
  e.query.fetch(ctl.signal).then(done, (err: unknown) => done({ error: err instanceof Error ? err.message : String(err) }));
}

function abort(e: Entry) {
  if (!e.ctl) return;
  e.ctl.abort();
  e.ctl = undefined;
  e.again = false;
  // What was not fetched is fetched on the next watch.
  e.stale = true;
  if (e.state.loading) setState(e, { loading: false });
}

// watch registers fn as a user of q's entry; the first user opens its topics and
// fetches it; the returned function unregisters, and after the last user the
// request is aborted and the topics closed.
export function watch(q: Query<unknown>, fn: () => void): () => void {
  const e = entry(q);
  e.query = q;
  clearTimeout(e.drop);
  e.drop = undefined;
  e.watchers.add(fn);
  if (!e.open) {
    e.open = true;
    for (const t of q.topics ?? []) e.offs.push(subscribe(t, () => run(e)));
    // While the event stream is down, poll instead.
    if (q.topics?.length) {
      let timer: ReturnType<typeof setInterval> | undefined;
      const poll = (isLive: boolean) => {
        clearInterval(timer);
        timer = isLive ? undefined : setInterval(() => run(e), POLL_MS);
      };
      poll(live());
      const off = onLiveChange(poll);
      e.offs.push(() => {
        off();
        clearInterval(timer);
      });
    }
    // A cached answer shows at once and is fetched anew: no event reached it meanwhile.
    e.stale = true;
  }
  if (e.stale) run(e);
  return () => {
    e.watchers.delete(fn);
    if (e.watchers.size > 0) return;
    // Wait a turn: the next page may use the same entry (or React mounts twice).
    e.drop = setTimeout(() => {
      if (e.watchers.size > 0) return;
      abort(e);
      for (const off of e.offs) off();
      e.offs = [];
      e.open = false;
      e.drop = setTimeout(() => entries.get(e.key) === e && entries.delete(e.key), KEEP_MS);
    }, 0);
  };
}

// refetch fetches again every entry whose key starts with prefix (after a change
// the page made itself); one no page shows is fetched when next shown.
export function refetch(prefix: readonly unknown[]): void {
  const p = keyOf(prefix).slice(0, -1);
  for (const e of entries.values()) {
    if (e.key !== `${p}]` && !e.key.startsWith(`${p},`)) continue;
    if (e.watchers.size > 0) run(e);
    else e.stale = true;
  }
}

// forgetAll drops every answer and fetches what is shown again: another token
// may see other things.
export function forgetAll(): void {
  for (const e of [...entries.values()]) {
    if (e.watchers.size === 0) {
      clearTimeout(e.drop);
      abort(e);
      for (const off of e.offs) off();
      entries.delete(e.key);
      continue;
    }
    abort(e);
    setState(e, { data: undefined, error: undefined, status: undefined, loading: true });
    run(e);
  }
}

if (typeof window !== 'undefined') {
  window.addEventListener('aura-token', forgetAll);
  window.addEventListener('storage', (ev) => {
    if (ev.key === null || ev.key === 'aura.token') forgetAll();
  });
}

// peek is what is known of q now.
export function peek<T>(q: Query<T>): QueryState<T> {
  return (entries.get(keyOf(q.key))?.state ?? LOADING) as QueryState<T>;
}

export interface QueryResult<T> extends QueryState<T> {
  reload: () => void;
}

// useQuery is q's data for a component; null asks for nothing (yet).
export function useQuery<T>(q: Query<T> | null): QueryResult<T> {
  const key = q ? keyOf(q.key) : '';
  const subscribeFn = useCallback(
    (fn: () => void) => (q ? watch(q as Query<unknown>, fn) : () => {}),
    // The key names the query: a new closure for the same key is the same query.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [key],
  );
  const snapshot = () => (q ? peek(q) : IDLE);
  const state = useSyncExternalStore(subscribeFn, snapshot);
  // The newest closure fetches (same key, so same data).
  useEffect(() => {
    const e = q && entries.get(key);
    if (e) e.query = q as Query<unknown>;
  });
  const reload = useCallback(() => {
    const e = entries.get(key);
    if (e) run(e);
  }, [key]);
  return { ...state, reload };
}
