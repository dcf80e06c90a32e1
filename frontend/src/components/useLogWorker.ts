// useLogWorker is the page's side of logWorker: one worker per attempt, fed with
// the log's events (or polled while the event stream is down), and a cache of the
// lines (parsed into spans) and line times it answered.
import { useCallback, useEffect, useRef, useState } from 'react';
import { token } from '../api/client';
import { live, subscribe } from '../api/events';
import { topics } from '../api/topics';
import { parseLine, type Span } from '../lib/ansi';
import { emptyMeta, type FromWorker, type Meta, type ToWorker } from './logProtocol';

const TAIL_BYTES = 256 * 1024;
// Lines (and times) held beyond this many are dropped away from the screen.
const KEEP = 20_000;

export interface SearchResult {
  lines: Int32Array; // the line of each match (the first 100 000)
  total: number;
}

export interface LogWorker {
  meta: Meta;
  // line is line l parsed, when the worker has sent it.
  line: (l: number) => Span[] | undefined;
  // time is line l's time since the start (ms), or the one it had before the
  // times last changed, until the new one arrives.
  time: (l: number) => number | undefined;
  // want asks for the lines (and, withTimes, their times) not held yet.
  want: (lines: number[], withTimes: boolean) => void;
  // search finds q in the whole log; a newer search makes an older one's answer null.
  search: (q: string, caseSensitive: boolean) => Promise<SearchResult | null>;
}

function fresh() {
  return {
    lines: new Map<number, Span[]>(),
    pending: new Set<number>(),
    times: { ver: 0, fresh: new Map<number, number>(), stale: new Map<number, number>(), pending: new Set<number>() },
  };
}

// askFor returns the range [lo, hi] spanning the lines not held nor asked for.
function span(lines: number[], missing: (l: number) => boolean): [number, number] | undefined {
  let lo = -1;
  let hi = -1;
  for (const l of lines) {
    if (!missing(l)) continue;
    if (lo < 0 || l < lo) lo = l;
    if (l > hi) hi = l;
  }
  return lo < 0 ? undefined : [lo, hi];
}

function trim<V>(m: Map<number, V>, lo: number, hi: number) {
  if (m.size > KEEP) for (const k of m.keys()) if (k < lo - 5000 || k > hi + 5000) m.delete(k);
}

// useLogWorker opens attempt (null: the current one) of job; running says whether
// bytes may still come. onEpoch hears of earlier lines put in front.
export function useLogWorker(job: number, attempt: number | null, running: boolean, onEpoch: (prepended: number) => void): LogWorker {
  const worker = useRef<Worker | null>(null);
  const [meta, setMeta] = useState<Meta>(emptyMeta);
  const metaRef = useRef(meta);
  metaRef.current = meta;
  const held = useRef(fresh());
  const [, setTick] = useState(0);
  const onEpochRef = useRef(onEpoch);
  onEpochRef.current = onEpoch;
  const searches = useRef({ req: 0, answer: (_r: SearchResult | null) => {} });

  useEffect(() => {
    const w = new Worker(new URL('./logWorker.ts', import.meta.url), { type: 'module' });
    worker.current = w;
    held.current = fresh();
    setMeta(emptyMeta);
    w.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      const h = held.current;
      if (m.t === 'meta') {
        if (m.epoch !== metaRef.current.epoch) {
          held.current = fresh();
          held.current.times.ver = m.timesVer;
          onEpochRef.current(m.prepended);
        } else if (m.timesVer !== h.times.ver) {
          h.times = { ver: m.timesVer, fresh: new Map(), stale: h.times.fresh, pending: new Set() };
        }
        metaRef.current = m;
        setMeta(m);
      } else if (m.t === 'lines') {
        if (m.epoch !== metaRef.current.epoch) return;
        m.lines.forEach((text, k) => {
          h.lines.set(m.from + k, parseLine(text));
          h.pending.delete(m.from + k);
          h.times.fresh.set(m.from + k, m.times[k]!);
        });
        setTick((t) => t + 1);
      } else if (m.t === 'times') {
        if (m.epoch !== metaRef.current.epoch || m.ver !== h.times.ver) return;
        m.times.forEach((t, k) => {
          h.times.fresh.set(m.from + k, t);
          h.times.pending.delete(m.from + k);
        });
        setTick((t) => t + 1);
      } else if (m.t === 'search') {
        if (m.req === searches.current.req) searches.current.answer({ lines: m.lines, total: m.total });
      }
    };
    w.postMessage({ t: 'open', job, attempt, token: token(), tail: TAIL_BYTES } satisfies ToWorker);
    return () => {
      w.terminate();
      worker.current = null;
      searches.current.answer(null);
    };
  }, [job, attempt]);

  // New bytes: from log events (resuming from the length held), or by polling
  // while the event stream is down. Both go through applyChunk in the worker.
  const opened = meta.epoch >= 0;
  useEffect(() => {
    const more = () => worker.current?.postMessage({ t: 'more' } satisfies ToWorker);
    if (!running) {
      more();
      return;
    }
    if (!opened) return;
    const off = subscribe(
      topics.log(job),
      (e) => {
        if (e.type === 'log') {
          if (e.jobId !== job || (attempt !== null && e.attempt !== attempt)) return;
          const bin = atob(e.data);
          const bytes = new Uint8Array(bin.length);
          for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
          const msg: ToWorker = { t: 'chunk', offset: e.offset, bytes, time: Date.parse(e.time) };
          worker.current?.postMessage(msg, [bytes.buffer]);
        } else if (e.type === 'resync' || e.type === 'subscribed') more();
      },
      () => metaRef.current.length,
    );
    const t = setInterval(() => {
      if (!live()) more();
    }, 1000);
    return () => {
      off();
      clearInterval(t);
    };
  }, [job, attempt, running, opened]);

  // A line that grew (the last one, while running) is asked for again.
  useEffect(() => {
    const h = held.current;
    for (const l of [meta.count - 1, meta.count - 2]) {
      if (l < 0) continue;
      h.lines.delete(l);
      h.pending.delete(l);
      h.times.fresh.delete(l);
      h.times.pending.delete(l);
    }
  }, [meta.length, meta.count]);

  const want = useCallback((lines: number[], withTimes: boolean) => {
    const w = worker.current;
    const h = held.current;
    const epoch = metaRef.current.epoch;
    if (!w) return;
    const need = span(lines, (l) => !h.lines.has(l) && !h.pending.has(l));
    if (need) {
      const [lo, hi] = need;
      for (let l = lo; l <= hi; l++) h.pending.add(l);
      w.postMessage({ t: 'lines', from: lo, to: hi + 1, epoch } satisfies ToWorker);
      trim(h.lines, lo, hi);
    }
    // Lines held whose times changed since (lines asked for above come with theirs).
    const tc = h.times;
    const needTimes = withTimes && span(lines, (l) => !tc.fresh.has(l) && !tc.pending.has(l) && !h.pending.has(l));
    if (!needTimes) return;
    const [lo, hi] = needTimes;
    for (let l = lo; l <= hi; l++) tc.pending.add(l);
    w.postMessage({ t: 'times', from: lo, to: hi + 1, epoch, ver: tc.ver } satisfies ToWorker);
    trim(tc.fresh, lo, hi);
  }, []);

  const search = useCallback((q: string, caseSensitive: boolean) => {
    const s = searches.current;
    s.answer(null);
    const req = ++s.req;
    return new Promise<SearchResult | null>((answer) => {
      s.answer = answer;
      if (q === '' || !worker.current) answer(q === '' ? { lines: new Int32Array(0), total: 0 } : null);
      else worker.current.postMessage({ t: 'search', q, req, caseSensitive } satisfies ToWorker);
    });
  }, []);

  const line = useCallback((l: number) => held.current.lines.get(l), []);
  const time = useCallback((l: number) => held.current.times.fresh.get(l) ?? held.current.times.stale.get(l), []);
  return { meta, line, time, want, search };
}
