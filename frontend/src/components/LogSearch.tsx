// LogSearch is the log's search: the query (searched in the worker after a pause
// in typing, again when earlier lines arrive), its matches, and the toolbar part
// that types it and steps through them; reveal shows a match's line.
import { useEffect, useRef, useState } from 'react';
import type { LogWorker, SearchResult } from './useLogWorker';

export interface LogSearch {
  query: string;
  setQuery: (q: string) => void;
  caseSensitive: boolean;
  setCaseSensitive: (on: boolean) => void;
  found: SearchResult | null;
  cur: number; // the match shown, -1 for none
  go: (k: number) => void; // shows match k (wrapping around)
}

export function useLogSearch(log: LogWorker, reveal: (line: number) => void): LogSearch {
  const [query, setQuery] = useState('');
  const [caseSensitive, setCaseSensitive] = useState(false);
  const [found, setFound] = useState<SearchResult | null>(null);
  const [cur, setCur] = useState(-1);
  const revealRef = useRef(reveal);
  revealRef.current = reveal;
  const { search, meta } = log;

  useEffect(() => {
    let gone = false;
    const t = setTimeout(() => {
      void search(query, caseSensitive).then((r) => {
        if (gone || !r) return;
        // A new search shows its first match.
        setFound(query === '' ? null : r);
        setCur(r.lines.length > 0 ? 0 : -1);
        if (r.lines.length > 0) revealRef.current(r.lines[0]!);
      });
    }, 200);
    return () => {
      gone = true;
      clearTimeout(t);
    };
  }, [search, query, caseSensitive, meta.epoch]);

  const go = (k: number) => {
    if (!found || found.lines.length === 0) return;
    const n = (k + found.lines.length) % found.lines.length;
    setCur(n);
    revealRef.current(found.lines[n]!);
  };
  return { query, setQuery, caseSensitive, setCaseSensitive, found, cur, go };
}

export function LogSearchBar({ s }: { s: LogSearch }) {
  const { found, cur } = s;
  return (
    <>
      <input
        type="search"
        placeholder="Search the log"
        aria-label="Search the log"
        value={s.query}
        onChange={(e) => s.setQuery(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') s.go(cur + (e.shiftKey ? -1 : 1));
        }}
      />
      <span className="count" aria-live="polite">
        {found ? (found.total === 0 ? 'no match' : `${cur + 1} / ${found.total}`) : ''}
      </span>
      <button type="button" onClick={() => s.go(cur - 1)} disabled={!found?.lines.length} aria-label="Previous match">
        ↑
      </button>
      <button type="button" onClick={() => s.go(cur + 1)} disabled={!found?.lines.length} aria-label="Next match">
        ↓
      </button>
      <label>
        <input type="checkbox" checked={s.caseSensitive} onChange={(e) => s.setCaseSensitive(e.target.checked)} /> Aa
      </label>
    </>
  );
}
