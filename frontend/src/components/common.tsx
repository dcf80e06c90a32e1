// common.tsx holds the small views every page uses: status badges, relative times,
// errors and the infinite-scroll sentinel.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { formatDuration, refreshDelay, relativeTime } from '../lib/relativeTime';
import type { JobStatus } from '../api/client';
import { skipCause, statusClass, statusLabel } from '../lib/jobLabel';

export function Status({ status }: { status: JobStatus | 'pending' | 'success' | 'failure' }) {
  return <span className={`status st-${status}`}>{status.replace('_', ' ')}</span>;
}

interface JobLike {
  status: JobStatus;
  name?: string;
  reason?: string;
  waitingFor?: { approval?: number };
}

// JobBadge is a job's status as people say it: "skipped" for a job whose preceding
// job did not succeed, "needs approval" for a fork's job held for a person.
export function JobBadge({ job }: { job: JobLike }) {
  const cause = skipCause(job);
  return (
    <span className={`status ${statusClass(job)}`} title={cause ? `skipped: ${cause}` : undefined} data-label={statusLabel(job)}>
      {statusLabel(job)}
    </span>
  );
}

// useTitle names the browser tab after the page: "build #12 · demo · Aura".
export function useTitle(title: string | undefined) {
  useEffect(() => {
    document.title = title ? `${title} · Aura` : 'Aura';
  }, [title]);
}

// RelTime shows "5 min ago", updating itself, with the full time on hover.
export function RelTime({ at }: { at: string | undefined }) {
  const [, setNow] = useState(0);
  useEffect(() => {
    if (!at) return;
    let t: ReturnType<typeof setTimeout>;
    const tick = () => {
      setNow(Date.now());
      t = setTimeout(tick, refreshDelay(at));
    };
    t = setTimeout(tick, refreshDelay(at));
    return () => clearTimeout(t);
  }, [at]);
  if (!at) return <span className="muted">–</span>;
  const d = new Date(at);
  return (
    <time dateTime={at} title={d.toLocaleString()}>
      {relativeTime(d)}
    </time>
  );
}

// Duration shows how long from..to took, counting up while `to` is absent.
export function Duration({ from, to }: { from: string | undefined; to: string | undefined }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!from || to) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [from, to]);
  if (!from) return <span className="muted">–</span>;
  const end = to ? new Date(to).getTime() : now;
  return <span>{formatDuration(end - new Date(from).getTime())}</span>;
}

// Said shows a sentence of the server's as it is, with its `quoted` words in code.
export function Said({ text }: { text: string }) {
  return (
    <>
      {text.split('`').map((part, i) => (i % 2 === 1 ? <code key={i}>{part}</code> : part))}
    </>
  );
}

export function ErrorText({ error }: { error: string | undefined }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error}
    </p>
  );
}

export function Loading({ what }: { what?: string }) {
  return <p className="muted">Loading{what ? ` ${what}` : ''}…</p>;
}

// MoreOnScroll calls load when it scrolls into view (infinite scroll), and offers a
// button for keyboards.
export function MoreOnScroll({ load, busy }: { load: () => void; busy: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const io = new IntersectionObserver((es) => {
      if (es.some((e) => e.isIntersecting)) loadRef.current();
    });
    io.observe(el);
    return () => io.disconnect();
  }, []);
  return (
    <div ref={ref} className="more">
      <button type="button" onClick={load} disabled={busy}>
        {busy ? 'Loading…' : 'Load more'}
      </button>
    </div>
  );
}

export function Copy({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(
          () => setDone(true),
          () => setDone(false),
        );
      }}
    >
      {done ? 'Copied' : label}
    </button>
  );
}

// Page is a page's frame; doc names the tab when title is not plain text.
export function Page({ title, doc, children, wide }: { title: ReactNode; doc?: string | undefined; children: ReactNode; wide?: boolean }) {
  useTitle(doc ?? (typeof title === 'string' ? title : undefined));
  return (
    <main id="main" className={wide ? 'wide' : undefined}>
      <h1>{title}</h1>
      {children}
    </main>
  );
}
