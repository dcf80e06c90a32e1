// LogView shows one attempt's log: virtualised (only the lines on screen are in the
// DOM), opened at its tail, following it while the job runs, with line links,
// collapsible groups (with how long each took), search over the whole log, wrap,
// download, and on demand each line's time since the job started. Lines and
// their times come from logWorker; ansi.parseLine turns each into spans rendered
// as React text nodes.
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { authHeaders, token } from '../api/client';
import { live, subscribe } from '../api/events';
import { parseLine, type Span } from '../lib/ansi';
import { RowMap } from '../lib/groups';
import { formatLineHash, inRange, parseLineHash, selectLine, type LineRange } from '../lib/lineRange';
import { formatSince, groupDuration } from '../lib/logTimes';
import { formatDuration } from '../lib/relativeTime';
import type { FromWorker, Meta, TimedGroup, ToWorker } from './logWorker';

const ROW_H = 18;
const OVERSCAN = 40;
const TAIL_BYTES = 256 * 1024;
const TIMES_KEY = 'aura.logTimes';

interface Props {
  job: number;
  attempt: number | null; // null: the current attempt
  running: boolean;
}

// emptyMeta stands for "nothing heard from the worker yet" (its epochs start at 0).
const emptyMeta: Meta = {
  t: 'meta',
  count: 0,
  complete: false,
  epoch: -1,
  prepended: 0,
  length: 0,
  groups: [],
  origin: NaN,
  skew: NaN,
  timesVer: 0,
};

function storedShowTimes(): boolean {
  try {
    return localStorage.getItem(TIMES_KEY) === '1';
  } catch {
    return false;
  }
}

// groupSummary is what a group's header says after its title: its lines and how
// long it took, counting up while it runs (now: the server's time, ms since the epoch).
function groupSummary(g: TimedGroup, running: boolean, now: number): { text: string; title: string } {
  const lines = `${g.end - g.start + 1} lines`;
  const live = g.open && running;
  const ms = groupDuration(g, live ? now : undefined);
  const took = Number.isFinite(ms) ? formatDuration(ms) : '';
  if (live) return { text: `${lines} · running${took ? ` ${took}` : ''}`, title: `${lines}, running${took ? ` for ${took}` : ''}` };
  return { text: took ? `${lines} · ${took}` : lines, title: took ? `${lines}, took ${took}` : lines };
}

function spanStyle(s: Span['style']): React.CSSProperties | undefined {
  if (!s) return undefined;
  const st: React.CSSProperties = {};
  let fg = s.fg;
  let bg = s.bg;
  if (s.inverse) {
    fg = s.bg ?? 'var(--log-bg)';
    bg = s.fg ?? 'var(--log-fg)';
  }
  if (fg) st.color = fg;
  if (bg) st.backgroundColor = bg;
  if (s.bold) st.fontWeight = 'bold';
  if (s.italic) st.fontStyle = 'italic';
  if (s.underline) st.textDecoration = 'underline';
  if (s.dim) st.opacity = 0.7;
  return st;
}

const LineText = memo(function LineText({ spans }: { spans: Span[] }) {
  return (
    <>
      {spans.map((s, i) => {
        const style = spanStyle(s.style);
        if (s.href)
          return (
            <a key={i} href={s.href} style={style} target="_blank" rel="noopener noreferrer nofollow">
              {s.text}
            </a>
          );
        return style ? (
          <span key={i} style={style}>
            {s.text}
          </span>
        ) : (
          <span key={i}>{s.text}</span>
        );
      })}
    </>
  );
});

export function LogView({ job, attempt, running }: Props) {
  const worker = useRef<Worker | null>(null);
  const [meta, setMeta] = useState<Meta>(emptyMeta);
  const metaRef = useRef(meta);
  metaRef.current = meta;
  const cache = useRef(new Map<number, Span[]>());
  const pending = useRef(new Set<number>());
  const [, setTick] = useState(0);
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const atBottom = useRef(true);
  const [follow, setFollow] = useState(true);
  const [wrap, setWrap] = useState(false);
  const [showTimes, setShowTimes] = useState(storedShowTimes);
  // Line times (ms since the start) by line; `stale` holds the ones from before the
  // worker's times last changed, shown until their new values arrive.
  const times = useRef({ ver: 0, fresh: new Map<number, number>(), stale: new Map<number, number>(), pending: new Set<number>() });
  const [collapsed, setCollapsed] = useState<Set<number>>(new Set());
  const [sel, setSel] = useState<LineRange | null>(() => parseLineHash(location.hash));
  const scrolledToSel = useRef(false);
  const [query, setQuery] = useState('');
  const [caseSensitive, setCaseSensitive] = useState(false);
  const [found, setFound] = useState<{ lines: Int32Array; total: number; q: string } | null>(null);
  const [cur, setCur] = useState(-1);
  const searchReq = useRef(0);

  // One worker per attempt.
  useEffect(() => {
    const w = new Worker(new URL('./logWorker.ts', import.meta.url), { type: 'module' });
    worker.current = w;
    cache.current = new Map();
    pending.current = new Set();
    times.current = { ver: 0, fresh: new Map(), stale: new Map(), pending: new Set() };
    setMeta(emptyMeta);
    setFound(null);
    scrolledToSel.current = false;
    atBottom.current = true;
    setFollow(true);
    w.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.t === 'meta') {
        if (m.epoch !== metaRef.current.epoch) {
          cache.current = new Map();
          pending.current = new Set();
          // Earlier lines went in front: keep the same lines on screen.
          if (m.prepended > 0 && box.current && !atBottom.current) box.current.scrollTop += m.prepended * ROW_H;
          setCollapsed(new Set());
          times.current = { ver: m.timesVer, fresh: new Map(), stale: new Map(), pending: new Set() };
        } else if (m.timesVer !== times.current.ver) {
          times.current = { ver: m.timesVer, fresh: new Map(), stale: times.current.fresh, pending: new Set() };
        }
        metaRef.current = m;
        setMeta(m);
      } else if (m.t === 'lines') {
        if (m.epoch !== metaRef.current.epoch) return;
        m.lines.forEach((text, k) => {
          cache.current.set(m.from + k, parseLine(text));
          pending.current.delete(m.from + k);
          times.current.fresh.set(m.from + k, m.times[k]!);
        });
        setTick((t) => t + 1);
      } else if (m.t === 'times') {
        const tc = times.current;
        if (m.epoch !== metaRef.current.epoch || m.ver !== tc.ver) return;
        m.times.forEach((t, k) => {
          tc.fresh.set(m.from + k, t);
          tc.pending.delete(m.from + k);
        });
        setTick((t) => t + 1);
      } else if (m.t === 'search') {
        if (m.req !== searchReq.current) return;
        setFound({ lines: m.lines, total: m.total, q: '' });
        setCur(m.lines.length > 0 ? 0 : -1);
      }
    };
    const open: ToWorker = { t: 'open', job, attempt, token: token(), tail: TAIL_BYTES };
    w.postMessage(open);
    return () => {
      w.terminate();
      worker.current = null;
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
      `log:${job}`,
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

  useEffect(() => {
    const onHash = () => {
      setSel(parseLineHash(location.hash));
      scrolledToSel.current = false;
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    setHeight(el.clientHeight);
    return () => ro.disconnect();
  }, []);

  const rows = useMemo(() => new RowMap(meta.count, meta.groups, collapsed), [meta.count, meta.groups, collapsed]);
  const groupAt = useMemo(() => {
    const m = new Map<number, TimedGroup>();
    for (const g of meta.groups) m.set(g.start, g);
    return m;
  }, [meta.groups]);

  // Follow the tail while at the bottom.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (follow && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [rows.rows, follow]);

  // Scroll to the selected lines once their numbers are known.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el || !sel || scrolledToSel.current || !meta.complete || meta.count === 0) return;
    const line = Math.min(sel.start - 1, meta.count - 1);
    scrolledToSel.current = true;
    atBottom.current = false;
    setFollow(false);
    el.scrollTop = Math.max(0, rows.rowOf(line) * ROW_H - el.clientHeight / 3);
    setScrollTop(el.scrollTop);
  }, [sel, meta.complete, meta.count, rows]);

  const onScroll = useCallback(() => {
    const el = box.current;
    if (!el) return;
    setScrollTop(el.scrollTop);
    const bottom = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_H * 2;
    atBottom.current = bottom;
    setFollow(bottom);
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(rows.rows, Math.ceil((scrollTop + height) / ROW_H) + OVERSCAN);

  // Ask the worker for lines on screen that are not parsed yet.
  useEffect(() => {
    let lo = -1;
    let hi = -1;
    for (let r = first; r < last; r++) {
      const l = rows.lineOf(r);
      if (!cache.current.has(l) && !pending.current.has(l)) {
        if (lo < 0) lo = l;
        hi = l;
      }
    }
    if (lo >= 0 && worker.current) {
      for (let l = lo; l <= hi; l++) pending.current.add(l);
      worker.current.postMessage({ t: 'lines', from: lo, to: hi + 1, epoch: meta.epoch } satisfies ToWorker);
      if (cache.current.size > 20_000) {
        for (const k of cache.current.keys()) if (k < lo - 5000 || k > hi + 5000) cache.current.delete(k);
      }
    }
    // Lines held whose times changed since (lines asked for above come with theirs).
    const tc = times.current;
    if (!showTimes || !worker.current) return;
    lo = -1;
    for (let r = first; r < last; r++) {
      const l = rows.lineOf(r);
      if (!tc.fresh.has(l) && !tc.pending.has(l) && !pending.current.has(l)) {
        if (lo < 0) lo = l;
        hi = l;
      }
    }
    if (lo < 0) return;
    for (let l = lo; l <= hi; l++) tc.pending.add(l);
    worker.current.postMessage({ t: 'times', from: lo, to: hi + 1, epoch: meta.epoch, ver: tc.ver } satisfies ToWorker);
    if (tc.fresh.size > 20_000) {
      for (const k of tc.fresh.keys()) if (k < lo - 5000 || k > hi + 5000) tc.fresh.delete(k);
    }
  });

  // A line that grew (the last one, while running) is fetched again.
  useEffect(() => {
    for (const l of [meta.count - 1, meta.count - 2]) {
      if (l < 0) continue;
      cache.current.delete(l);
      pending.current.delete(l);
      times.current.fresh.delete(l);
      times.current.pending.delete(l);
    }
  }, [meta.length, meta.count]);

  // A running group's duration counts up, on the server's clock.
  const [now, setNow] = useState(() => Date.now());
  const counting = running && meta.groups.some((g) => g.open && Number.isFinite(g.t0));
  useEffect(() => {
    if (!counting) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [counting]);
  const serverNow = now - (Number.isFinite(meta.skew) ? meta.skew : 0);

  const toggleTimes = (on: boolean) => {
    setShowTimes(on);
    try {
      localStorage.setItem(TIMES_KEY, on ? '1' : '0');
    } catch {
      // Not kept: the choice holds for this page only.
    }
  };

  const lineNo = (l: number) => (meta.complete ? l + 1 : null);

  const select = (l: number, extend: boolean) => {
    const n = lineNo(l);
    if (n === null) return;
    const r = selectLine(sel, n, extend);
    setSel(r);
    scrolledToSel.current = true;
    history.replaceState(history.state, '', formatLineHash(r));
  };

  const toggle = (start: number) => {
    setCollapsed((c) => {
      const n = new Set(c);
      if (n.has(start)) n.delete(start);
      else n.add(start);
      return n;
    });
  };

  const runSearch = (q: string, cs: boolean) => {
    const req = ++searchReq.current;
    if (q === '') {
      setFound(null);
      setCur(-1);
      return;
    }
    worker.current?.postMessage({ t: 'search', q, req, caseSensitive: cs } satisfies ToWorker);
  };

  useEffect(() => {
    const t = setTimeout(() => runSearch(query, caseSensitive), 200);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [query, caseSensitive, meta.epoch]);

  const goMatch = (k: number) => {
    if (!found || found.lines.length === 0) return;
    const n = (k + found.lines.length) % found.lines.length;
    setCur(n);
    const line = found.lines[n]!;
    // A match inside a collapsed group opens it.
    const hiding = meta.groups.filter((g) => collapsed.has(g.start) && line > g.start && line <= g.end);
    let map = rows;
    if (hiding.length) {
      const c = new Set(collapsed);
      hiding.forEach((g) => c.delete(g.start));
      setCollapsed(c);
      map = new RowMap(meta.count, meta.groups, c);
    }
    const el = box.current;
    if (el) {
      atBottom.current = false;
      setFollow(false);
      el.scrollTop = Math.max(0, map.rowOf(line) * ROW_H - el.clientHeight / 3);
    }
  };

  // A new search shows its first match.
  const goMatchRef = useRef(goMatch);
  goMatchRef.current = goMatch;
  useEffect(() => {
    if (found && found.lines.length > 0) goMatchRef.current(0);
  }, [found]);

  const curLine = found && cur >= 0 ? found.lines[cur] : undefined;

  const download = async () => {
    const q = attempt ? `?attempt=${attempt}` : '';
    const res = await fetch(`/api/v1/jobs/${job}/log${q}`, { headers: authHeaders() });
    const blob = await res.blob();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `job-${job}${attempt ? `-attempt-${attempt}` : ''}.log`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };

  const toBottom = () => {
    const el = box.current;
    if (!el) return;
    atBottom.current = true;
    setFollow(true);
    el.scrollTop = el.scrollHeight;
  };

  const out: ReactNode[] = [];
  for (let r = first; r < last; r++) {
    const l = rows.lineOf(r);
    const n = lineNo(l);
    const g = groupAt.get(l);
    const spans = cache.current.get(l);
    const t = showTimes ? (times.current.fresh.get(l) ?? times.current.stale.get(l)) : undefined;
    const selected = n !== null && inRange(sel, n);
    const summary = g ? groupSummary(g, running, serverNow) : undefined;
    const cls = `log-line${selected ? ' sel' : ''}${l === curLine ? ' match' : ''}${g ? ' group' : ''}`;
    out.push(
      <div key={l} className={cls} data-line={n ?? undefined}>
        <a
          className="ln"
          href={n !== null ? `#L${n}` : undefined}
          aria-label={n !== null ? `line ${n}` : undefined}
          onClick={(e) => {
            e.preventDefault();
            select(l, e.shiftKey);
          }}
        >
          {n ?? ''}
        </a>
        {showTimes ? <span className="lts">{t === undefined ? '' : formatSince(t)}</span> : null}
        {g ? (
          <button
            type="button"
            className="fold"
            aria-expanded={!collapsed.has(l)}
            onClick={() => toggle(l)}
            title={summary!.title}
          >
            {collapsed.has(l) ? '▸' : '▾'} {g.title || 'group'}
            <span className="muted gsum"> · {summary!.text}</span>
          </button>
        ) : (
          <span className="lt">{spans ? <LineText spans={spans} /> : null}</span>
        )}
      </div>,
    );
  }

  return (
    <section className="log" aria-label="Log">
      <div className="log-bar" role="toolbar" aria-label="Log tools">
        <input
          type="search"
          placeholder="Search the log"
          aria-label="Search the log"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') goMatch(cur + (e.shiftKey ? -1 : 1));
          }}
        />
        <span className="count" aria-live="polite">
          {found ? (found.total === 0 ? 'no match' : `${cur + 1} / ${found.total}`) : ''}
        </span>
        <button type="button" onClick={() => goMatch(cur - 1)} disabled={!found?.lines.length} aria-label="Previous match">
          ↑
        </button>
        <button type="button" onClick={() => goMatch(cur + 1)} disabled={!found?.lines.length} aria-label="Next match">
          ↓
        </button>
        <label>
          <input type="checkbox" checked={caseSensitive} onChange={(e) => setCaseSensitive(e.target.checked)} /> Aa
        </label>
        <label>
          <input type="checkbox" checked={wrap} onChange={(e) => setWrap(e.target.checked)} /> Wrap
        </label>
        <label title="Each line's time since the job started">
          <input type="checkbox" checked={showTimes} onChange={(e) => toggleTimes(e.target.checked)} /> Times
        </label>
        <button type="button" onClick={() => void download()}>
          Download
        </button>
        <span className="muted log-size">
          {meta.complete ? `${meta.count.toLocaleString()} lines` : meta.count ? 'loading earlier lines…' : ''}
        </span>
      </div>
      {meta.error ? <p className="error">Could not load the log: {meta.error}</p> : null}
      <div ref={box} className={`log-box${wrap ? ' wrap' : ''}`} onScroll={onScroll} tabIndex={0} aria-label="Log lines">
        <div className="log-space" style={{ height: rows.rows * ROW_H }}>
          <div className="log-rows" style={{ transform: `translateY(${first * ROW_H}px)` }}>
            {out}
          </div>
        </div>
        {opened && meta.count === 0 && meta.length === 0 ? <p className="muted log-empty">{running ? 'Waiting for output…' : 'No output.'}</p> : null}
      </div>
      {!follow ? (
        <button type="button" className="to-bottom" onClick={toBottom}>
          {running ? '↓ Follow' : '↓ Bottom'}
        </button>
      ) : null}
    </section>
  );
}
