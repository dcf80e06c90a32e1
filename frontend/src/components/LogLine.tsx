// LogLine is one row of the log view: its number (a link that selects it), its
// time since the start when shown, and its text as ANSI spans, or for the first
// line of a group, the button that folds it with the group's size and duration.
import { memo } from 'react';
import type { Span } from '../lib/ansi';
import { formatSince, groupDuration } from '../lib/logTimes';
import { formatDuration } from '../lib/relativeTime';
import type { TimedGroup } from './logProtocol';

// groupSummary is what a group's header says after its title: its lines and how
// long it took, counting up while it runs (now: the server's time, ms since the epoch).
export function groupSummary(g: TimedGroup, running: boolean, now: number): { text: string; title: string } {
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

export interface LogLineProps {
  line: number; // from 0, in the lines held
  n: number | null; // the line's number in the log, null until known
  spans: Span[] | undefined;
  time: number | undefined; // undefined: times are not shown
  showTimes: boolean;
  selected: boolean;
  match: boolean;
  group?: { g: TimedGroup; collapsed: boolean; summary: { text: string; title: string } } | undefined;
  onSelect: (line: number, extend: boolean) => void;
  onToggle: (line: number) => void;
}

export function LogLine({ line, n, spans, time, showTimes, selected, match, group, onSelect, onToggle }: LogLineProps) {
  const cls = `log-line${selected ? ' sel' : ''}${match ? ' match' : ''}${group ? ' group' : ''}`;
  return (
    <div className={cls} data-line={n ?? undefined}>
      <a
        className="ln"
        href={n !== null ? `#L${n}` : undefined}
        aria-label={n !== null ? `line ${n}` : undefined}
        onClick={(e) => {
          e.preventDefault();
          onSelect(line, e.shiftKey);
        }}
      >
        {n ?? ''}
      </a>
      {showTimes ? <span className="lts">{time === undefined ? '' : formatSince(time)}</span> : null}
      {group ? (
        <button type="button" className="fold" aria-expanded={!group.collapsed} onClick={() => onToggle(line)} title={group.summary.title}>
          {group.collapsed ? '▸' : '▾'} {group.g.title || 'group'}
          <span className="muted gsum"> · {group.summary.text}</span>
        </button>
      ) : (
        <span className="lt">{spans ? <LineText spans={spans} /> : null}</span>
      )}
    </div>
  );
}
