// Builds.tsx: a project's recent builds (the project page), and on an entity's
// page what the build is (message, author, forge links), its actions (retry the
// failed jobs, cancel all) and why it failed (each failed job's annotations and
// last log lines, linking to their lines in the log).
import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import type { Entity, Job } from '../api/client';
import { actOnEntity, annotationsQuery, authorOf, BUILD_STATUSES, buildLabel, buildsQuery, type Build, type BuildFilter, type BuildStatus, type EntityMeta } from '../api/builds';
import { useMe } from '../api/me';
import { useQuery } from '../api/query';
import { statusClass, statusLabel } from '../lib/jobLabel';
import { ConfirmButton } from './Confirm';
import { Duration, ErrorText, Loading, RelTime, Status } from './common';
import './builds.css';

// webLink is an address the page may link to: http(s) only, whatever a submitter sent.
export function webLink(u: string | undefined): string | undefined {
  return u && /^https?:\/\//i.test(u) ? u : undefined;
}

// Squares are a build's jobs, one small square each, coloured by status.
export function Squares({ jobs, more }: { jobs: Build['jobs']; more?: number }) {
  return (
    <span className="squares" aria-label={jobs.map((j) => `${j.name}: ${statusLabel(j)}`).join(', ')}>
      {jobs.map((j) => (
        <Link key={j.id} to={`/j/${j.id}`} className={`sq ${statusClass(j)}`} title={`${j.name}: ${statusLabel(j)}`} data-status={statusLabel(j)} />
      ))}
      {more && more > 0 ? <span className="muted small"> +{more}</span> : null}
    </span>
  );
}

// Origin is where a build came from: its branch, or its merge request's title.
function Origin({ meta }: { meta: EntityMeta }) {
  if (meta.requestTitle) {
    return (
      <span className="origin" title="merge request">
        {meta.requestNumber ? `!${meta.requestNumber} ` : ''}
        {meta.requestTitle}
      </span>
    );
  }
  return meta.branch ? <span className="origin mono">{meta.branch}</span> : null;
}

function BuildRow({ project, b, onAuthor }: { project: string; b: Build; onAuthor: (a: string) => void }) {
  const to = `/p/${encodeURIComponent(project)}/${encodeURIComponent(b.key)}/${encodeURIComponent(b.value)}`;
  const author = authorOf(b.meta);
  return (
    <li className="build" data-build={`${b.key}/${b.value}`} data-status={b.status}>
      <span className="build-status">
        <Status status={b.status} />
      </span>
      <span className="build-main">
        <Link to={to} className="build-title">
          {buildLabel(b)}
        </Link>
        <span className="build-sub muted">
          {author ? (
            <button type="button" className="linkish" title={`Only builds by ${author}`} onClick={() => onAuthor(author)}>
              {b.meta.authorName || b.meta.authorLogin}
            </button>
          ) : null}
          <Origin meta={b.meta} />
          <span className="mono">
            {b.key}/{b.value.length > 12 ? b.value.slice(0, 12) : b.value}
          </span>
        </span>
      </span>
      <span className="build-jobs">
        <Squares jobs={b.jobs} more={b.jobCount - b.jobs.length} />
      </span>
      <span className="build-time">
        <Duration from={b.startedAt} to={b.endedAt} />
        <RelTime at={b.createdAt} />
      </span>
    </li>
  );
}

// BuildsList is the project page's list of builds: newest first, live, a page
// at a time ("Older builds"), filtered by collection, status and author; the
// filters and the page are in the address, so a view is a link.
export function BuildsList({ project }: { project: string }) {
  const [params, setParams] = useSearchParams();
  const statusParam = params.get('status') ?? '';
  const filter: BuildFilter = {
    collection: params.get('collection') ?? '',
    status: (BUILD_STATUSES as string[]).includes(statusParam) ? (statusParam as BuildStatus) : '',
    author: params.get('author') ?? '',
  };
  const before = params.get('before') ?? undefined;
  const r = useQuery(buildsQuery(project, filter, before));
  const set = (k: string, v: string) => {
    const n = new URLSearchParams(params);
    if (v) n.set(k, v);
    else n.delete(k);
    if (k !== 'before') n.delete('before');
    setParams(n, { replace: k !== 'before' });
  };
  const builds = r.data?.builds;
  const filtered = !!(filter.collection || filter.status || filter.author);
  return (
    <section className="builds" aria-label="Builds">
      <form className="filters" onSubmit={(e) => e.preventDefault()} key={`${filter.collection}|${filter.author}`}>
        <label>
          Collection{' '}
          <input defaultValue={filter.collection} placeholder="ref/main" size={14} onChange={(e) => set('collection', e.target.value.trim())} />
        </label>
        <label>
          Status{' '}
          <select value={filter.status} onChange={(e) => set('status', e.target.value)}>
            <option value="">any</option>
            {BUILD_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Author <input defaultValue={filter.author} size={14} onChange={(e) => set('author', e.target.value.trim())} />
        </label>
        {filtered ? (
          <button type="button" onClick={() => setParams(new URLSearchParams(params.get('tab') ? { tab: params.get('tab')! } : {}), { replace: true })}>
            Clear
          </button>
        ) : null}
      </form>
      <ErrorText error={r.error} />
      {!builds && !r.error ? <Loading what="builds" /> : null}
      {builds && builds.length === 0 ? <p className="muted">{filtered || before ? 'No builds match.' : 'No builds yet: submit a job or connect a forge.'}</p> : null}
      {builds && builds.length > 0 ? (
        <ol className="build-list">
          {builds.map((b) => (
            <BuildRow key={`${b.key}/${b.value}`} project={project} b={b} onAuthor={(a) => set('author', a)} />
          ))}
        </ol>
      ) : null}
      <nav className="pager" aria-label="Pages of builds">
        {before ? (
          <button type="button" onClick={() => set('before', '')}>
            ← Newest
          </button>
        ) : null}
        {r.data?.next ? (
          <button type="button" onClick={() => set('before', r.data!.next!)}>
            Older builds →
          </button>
        ) : null}
      </nav>
    </section>
  );
}

// BuildHeader heads an entity's page: the commit's message, its author, its
// branch or merge request, links to both on the forge, and the build's actions.
export function BuildHeader({ entity }: { entity: Entity }) {
  const me = useMe();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const meta = entity.meta ?? {};
  const title = entity.title || (meta.message ?? '').split('\n')[0];
  const rest = (meta.message ?? '').split('\n').slice(1).join('\n').trim();
  const perms = me?.permissions.projects[entity.project];
  const mayRetry = !!me && (me.permissions.admin || !!perms?.retry);
  const mayCancel = !!me && (me.permissions.admin || !!perms?.cancel);
  const failed = entity.counts.failed + entity.counts.timedOut + entity.counts.lost + entity.counts.skipped;
  const open = entity.counts.waiting + entity.counts.queued + entity.counts.running;
  const act = async (what: 'retry-failed' | 'cancel') => {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    const res = await actOnEntity(entity.project, entity.key, entity.value, what);
    setBusy(false);
    if (res.error !== undefined) setError(res.error);
    else {
      const n = res.data?.jobs.length ?? 0;
      setDone(what === 'cancel' ? `${n} job${n === 1 ? '' : 's'} cancelled` : `${n} job${n === 1 ? '' : 's'} started again`);
    }
  };
  const commit = webLink(meta.commitUrl);
  const request = webLink(meta.requestUrl);
  return (
    <div className="build-head">
      {title ? <h2 className="build-message">{title}</h2> : null}
      {rest ? <pre className="build-body">{rest}</pre> : null}
      <p className="build-sub">
        {meta.authorName || meta.authorLogin ? (
          <span>
            by <strong>{meta.authorName || meta.authorLogin}</strong>
            {meta.authorName && meta.authorLogin ? <span className="muted"> ({meta.authorLogin})</span> : null}
          </span>
        ) : null}
        <Origin meta={meta} />
        {commit ? (
          <a href={commit} rel="noopener noreferrer" target="_blank" data-testid="commit-link">
            Commit on the forge
          </a>
        ) : null}
        {request ? (
          <a href={request} rel="noopener noreferrer" target="_blank" data-testid="request-link">
            {meta.requestNumber ? `Merge request !${meta.requestNumber}` : 'Merge request'} on the forge
          </a>
        ) : null}
      </p>
      {/* The outcome stays when the action leaves nothing more to do. */}
      {(mayRetry && failed > 0) || (mayCancel && open > 0) || done ? (
        <p className="build-actions">
          {mayRetry && failed > 0 ? (
            <button type="button" disabled={busy} onClick={() => void act('retry-failed')}>
              Retry failed
            </button>
          ) : null}
          {mayCancel && open > 0 ? <ConfirmButton label="Cancel all" question={`Cancel the ${open} jobs that have not ended?`} yes="Cancel all" busy={busy} onConfirm={() => act('cancel')} /> : null}
          {done ? (
            <span className="muted" role="status">
              {done}
            </span>
          ) : null}
        </p>
      ) : null}
      <ErrorText error={error} />
    </div>
  );
}

const FAILED = new Set(['failed', 'timed_out', 'lost']);

// FailedJob is one failed job's annotations and last lines, each a link to
// its line in the job's log.
function FailedJob({ job }: { job: Job }) {
  const r = useQuery(annotationsQuery(job.id));
  const a = r.data;
  const line = (n: number) => `/j/${job.id}#L${n}`;
  return (
    <section className="failed-job" data-job={job.id}>
      <h3>
        <Link to={`/j/${job.id}`}>{job.name}</Link> <span className={`status ${statusClass(job)}`}>{statusLabel(job)}</span>
        {job.exitCode !== undefined ? <span className="muted"> exit code {job.exitCode}</span> : null}
      </h3>
      <ErrorText error={r.error} />
      {!a && !r.error ? <Loading what="its log" /> : null}
      {a && a.annotations.length > 0 ? (
        <ul className="annotations">
          {a.annotations.map((n, i) => (
            <li key={i} className={`ann ann-${n.level}`}>
              <Link to={line(n.logLine)} className="ann-link">
                <span className="ann-level">{n.level}</span>
                {n.file ? (
                  <span className="mono">
                    {n.file}
                    {n.line ? `:${n.line}` : ''}
                    {n.col ? `:${n.col}` : ''}
                  </span>
                ) : null}
                {n.title ? <strong>{n.title}</strong> : null}
                <span className="ann-message">{n.message}</span>
                <span className="muted small">line {n.logLine}</span>
              </Link>
            </li>
          ))}
        </ul>
      ) : null}
      {a && a.tail.length > 0 ? (
        <pre className="tail" aria-label={`Last lines of the log of ${job.name}`}>
          {a.tail.map((text, i) => (
            <Link key={i} to={line(a.tailStart + i)} className="tail-line">
              <span className="ln">{a.tailStart + i}</span>
              {text || ' '}
              {'\n'}
            </Link>
          ))}
        </pre>
      ) : null}
      {a && a.lines === 0 ? <p className="muted">It printed nothing.</p> : null}
    </section>
  );
}

// WhyFailed lists the entity's failed jobs with what they printed about why.
export function WhyFailed({ jobs }: { jobs: Job[] }) {
  const failed = jobs.filter((j) => FAILED.has(j.status));
  if (failed.length === 0) return null;
  return (
    <section className="why-failed" aria-label="Why it failed">
      <h2>Why it failed</h2>
      {failed.slice(0, 10).map((j) => (
        <FailedJob key={j.id} job={j} />
      ))}
      {failed.length > 10 ? <p className="muted">and {failed.length - 10} more failed jobs.</p> : null}
    </section>
  );
}
