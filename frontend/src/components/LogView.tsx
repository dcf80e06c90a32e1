// LogView shows one attempt's log: virtualised (only the lines on screen are in the
// DOM), opened at its tail, following it while the job runs, with line links,
// collapsible groups (with how long each took), search over the whole log, wrap,
// download, and on demand each line's time since the job started. The lines, their
// times and the search come from the worker (useLogWorker); LogSearch is the
// search, LogLine one row, useLogScroll the scrolling.
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { logBlob } from '../api/jobs';
import { RowMap } from '../lib/groups';
import { formatLineHash, inRange, parseLineHash, selectLine, type LineRange } from '../lib/lineRange';
import { groupSummary, LogLine } from './LogLine';
import type { TimedGroup } from './logProtocol';
import { LogSearchBar, useLogSearch } from './LogSearch';
import { ROW_H, useLogScroll } from './useLogScroll';
import { useLogWorker } from './useLogWorker';

const TIMES_KEY = 'aura.logTimes';

interface Props {
  job: number;
  attempt: number | null; // null: the current attempt
  running: boolean;
}

function storedShowTimes(): boolean {
  try {
    return localStorage.getItem(TIMES_KEY) === '1';
  } catch {
    return false;
  }
}

// useServerNow is the server's time, ticking each second while on (a running
// group's duration counts up on the server's clock); skew is how far this clock
// is ahead of the server's.
function useServerNow(on: boolean, skew: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [on]);
  return now - (Number.isFinite(skew) ? skew : 0);
}

export function LogView({ job, attempt, running }: Props) {
  const [wrap, setWrap] = useState(false);
  const [showTimes, setShowTimes] = useState(storedShowTimes);
  const [collapsed, setCollapsed] = useState<Set<number>>(new Set());
  const [sel, setSel] = useState<LineRange | null>(() => parseLineHash(location.hash));
  const scrolledToSel = useRef(false);

  const prependedRef = useRef((_n: number) => {});
  const log = useLogWorker(job, attempt, running, (n) => {
    // Earlier lines went in front: keep the same lines on screen.
    prependedRef.current(n);
    setCollapsed(new Set());
  });
  const { meta } = log;
  const rows = useMemo(() => new RowMap(meta.count, meta.groups, collapsed), [meta.count, meta.groups, collapsed]);
  const groupAt = useMemo(() => new Map<number, TimedGroup>(meta.groups.map((g) => [g.start, g])), [meta.groups]);
  const scroll = useLogScroll(rows.rows);
  prependedRef.current = scroll.prepended;

  // A match inside a collapsed group opens it.
  const search = useLogSearch(log, (line) => {
    const hiding = meta.groups.filter((g) => collapsed.has(g.start) && line > g.start && line <= g.end);
    let map = rows;
    if (hiding.length) {
      const c = new Set(collapsed);
      hiding.forEach((g) => c.delete(g.start));
      setCollapsed(c);
      map = new RowMap(meta.count, meta.groups, c);
    }
    scroll.toRow(map.rowOf(line));
  });

  useEffect(() => {
    const onHash = () => {
      setSel(parseLineHash(location.hash));
      scrolledToSel.current = false;
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  // Scroll to the selected lines once their numbers are known.
  useLayoutEffect(() => {
    if (!sel || scrolledToSel.current || !meta.complete || meta.count === 0) return;
    scrolledToSel.current = true;
    scroll.toRow(rows.rowOf(Math.min(sel.start - 1, meta.count - 1)));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [sel, meta.complete, meta.count, rows]);

  const { first, last } = scroll;
  const onScreen: number[] = [];
  for (let r = first; r < last; r++) onScreen.push(rows.lineOf(r));
  // Ask the worker for the lines on screen it has not sent.
  useEffect(() => log.want(onScreen, showTimes));

  const serverNow = useServerNow(running && meta.groups.some((g) => g.open && Number.isFinite(g.t0)), meta.skew);

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

  const download = async () => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(await logBlob(job, attempt));
    a.download = `job-${job}${attempt ? `-attempt-${attempt}` : ''}.log`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };

  const curLine = search.found && search.cur >= 0 ? search.found.lines[search.cur] : undefined;
  const out: ReactNode[] = onScreen.map((l) => {
    const n = lineNo(l);
    const g = groupAt.get(l);
    return (
      <LogLine
        key={l}
        line={l}
        n={n}
        spans={log.line(l)}
        time={showTimes ? log.time(l) : undefined}
        showTimes={showTimes}
        selected={n !== null && inRange(sel, n)}
        match={l === curLine}
        group={g && { g, collapsed: collapsed.has(l), summary: groupSummary(g, running, serverNow) }}
        onSelect={select}
        onToggle={toggle}
      />
    );
  });

  return (
    <section className="log" aria-label="Log">
      <div className="log-bar" role="toolbar" aria-label="Log tools">
        <LogSearchBar s={search} />
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
      <div ref={scroll.box} className={`log-box${wrap ? ' wrap' : ''}`} onScroll={scroll.onScroll} tabIndex={0} aria-label="Log lines">
        <div className="log-space" style={{ height: rows.rows * ROW_H }}>
          <div className="log-rows" style={{ transform: `translateY(${first * ROW_H}px)` }}>
            {out}
          </div>
        </div>
        {meta.epoch >= 0 && meta.count === 0 && meta.length === 0 ? <p className="muted log-empty">{running ? 'Waiting for output…' : 'No output.'}</p> : null}
      </div>
      {!scroll.follow ? (
        <button type="button" className="to-bottom" onClick={scroll.toBottom}>
          {running ? '↓ Follow' : '↓ Bottom'}
        </button>
      ) : null}
    </section>
  );
}
