// live.ts holds the hooks pages load data with: useResource fetches, and refetches
// when one of its topics has an event (or every few seconds while the event
// stream is down), keeping the last good data on screen so nothing jumps.
import { useCallback, useEffect, useRef, useState } from 'react';
import { live, onLiveChange, subscribe, type LiveEvent } from './events';

const POLL_MS = 2000;

// useLive calls fn on every event of the topics, and every POLL_MS while the
// socket is down.
export function useLive(topics: string[], fn: (e: LiveEvent | null) => void): void {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const key = topics.join('\n');
  const [isLive, setLive] = useState(live());
  useEffect(() => onLiveChange(setLive), []);
  useEffect(() => {
    if (key === '') return;
    const offs = key.split('\n').map((t) => subscribe(t, (e) => fnRef.current(e)));
    return () => offs.forEach((off) => off());
  }, [key]);
  useEffect(() => {
    if (isLive || key === '') return;
    const t = setInterval(() => fnRef.current(null), POLL_MS);
    return () => clearInterval(t);
  }, [isLive, key]);
}

export interface Resource<T> {
  data: T | undefined;
  error: string | undefined;
  status: number | undefined;
  loading: boolean;
  reload: () => void;
}

// useResource loads with load() whenever deps change, and again on live events of
// topics. A reload that fails keeps the data it had.
export function useResource<T>(
  load: (signal: AbortSignal) => Promise<{ data?: T | undefined; error?: string | undefined; status?: number | undefined }>,
  deps: unknown[],
  topics: string[] = [],
): Resource<T> {
  const [state, setState] = useState<{ data?: T | undefined; error?: string | undefined; status?: number | undefined; loading: boolean }>({
    loading: true,
  });
  const loadRef = useRef(load);
  loadRef.current = load;
  const gen = useRef(0);
  const inflight = useRef(false);
  // An event during a fetch may postdate what that fetch reads: fetch once more after it.
  const again = useRef(false);

  const run = useCallback((fresh: boolean) => {
    if (!fresh && inflight.current) {
      again.current = true;
      return;
    }
    again.current = false;
    const my = ++gen.current;
    inflight.current = true;
    const ctl = new AbortController();
    if (fresh) setState((s) => ({ ...s, data: undefined, error: undefined, loading: true }));
    loadRef
      .current(ctl.signal)
      .then((r) => {
        if (my !== gen.current) return;
        setState((s) =>
          r.data !== undefined
            ? { data: r.data, loading: false, status: r.status }
            : { ...s, error: r.error ?? 'request failed', status: r.status, loading: false },
        );
      })
      .catch((e: unknown) => {
        if (my !== gen.current) return;
        setState((s) => ({ ...s, error: String(e), loading: false }));
      })
      .finally(() => {
        if (my !== gen.current) return;
        inflight.current = false;
        if (again.current) run(false);
      });
  }, []);

  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => run(true), deps);
  useLive(topics, () => run(false));
  return { data: state.data, error: state.error, status: state.status, loading: state.loading, reload: () => run(false) };
}
