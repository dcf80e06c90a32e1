import { useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import type { Job } from '../api/client';
import { entityQuery } from '../api/entities';
import { actOnJob, jobQuery, type JobAction } from '../api/jobs';
import { mayAct as may, useMe } from '../api/me';
import { projectQuery } from '../api/projects';
import { useQuery } from '../api/query';
import { JobArtifacts } from '../components/Artifacts';
import { Duration, ErrorText, JobBadge, Loading, RelTime, Said, useTitle } from '../components/common';
import { LogView } from '../components/LogView';
import { actorText } from '../lib/actor';
import { waitText } from '../lib/waiting';
import '../components/forge.css';

// An approval gate has this tag, which no runner can ask for (it has a space).
const APPROVAL_TAG = 'aura approval';

const ended = (s: Job['status']) => !['waiting', 'queued', 'running'].includes(s);

function Row({ k, children }: { k: string; children: React.ReactNode }) {
  return (
    <>
      <dt>{k}</dt>
      <dd>{children}</dd>
    </>
  );
}

// JobActors says who submitted, approved, retried and cancelled the job, and when:
// "cancelled by alice 2 min ago".
function JobActors({ job }: { job: Job }) {
  const said = (
    [
      ['submitted', job.submittedBy],
      ['approved', job.approvedBy],
      ['retried', job.retriedBy],
      ['cancelled', job.cancelledBy],
    ] as const
  ).flatMap(([verb, a]) => (a ? [{ verb, a }] : []));
  if (said.length === 0) return null;
  return (
    <ul className="actors" aria-label="Who">
      {said.map(({ verb, a }) => (
        <li key={verb} data-testid={`${verb}-by`}>
          {verb} by {actorText(a)} <RelTime at={a.at} />
        </li>
      ))}
    </ul>
  );
}

export default function JobPage() {
  const { id: idText = '' } = useParams();
  const id = Number(idText);
  const [attempt, setAttempt] = useState<number | null>(null);
  // The attempt that was current when the page opened.
  const firstAttempt = useRef<number>(undefined);
  const [actionError, setActionError] = useState<string>();
  const [acting, setActing] = useState(false);
  const r = useQuery(jobQuery(id));
  const job = r.data;
  // The entity, for its collections and the names of the jobs before and after.
  const entity = useQuery(job ? entityQuery(job.project, job.entityKey, job.entityVal) : null).data;
  // Whether the project is private: a public project's artifacts may be linked.
  const isPrivate = useQuery(job ? projectQuery(job.project) : null).data?.private;
  useTitle(job ? `${job.name} #${job.id} · ${job.project}` : `Job #${idText}`);
  const me = useMe();
  const mayAct = !!job && may(me, job.project);

  const act = async (what: JobAction) => {
    setActing(true);
    setActionError(undefined);
    const res = await actOnJob(id, what);
    setActing(false);
    if (res.error !== undefined) setActionError(res.error);
    else if (what === 'retry') setAttempt(null);
  };

  // The log opens at once, beside the job's own requests rather than after them:
  // its tail is what a deep link is for. Its key holds while the page learns the
  // job, and changes with the attempt shown (a retry opens the new attempt's log).
  if (firstAttempt.current === undefined && job) firstAttempt.current = job.attempt;
  const logKey = `${id}/${attempt ?? (job && job.attempt !== firstAttempt.current ? job.attempt : 'current')}`;
  if (!job) {
    return (
      <main id="main" className="job-page">
        <aside className="meta">
          <h1>Job #{idText}</h1>
          <ErrorText error={r.error} />
          {!r.error ? <Loading /> : null}
        </aside>
        <div className="log-col">
          {null}
          {r.error ? null : <LogView key={logKey} job={id} attempt={attempt} running={false} />}
        </div>
      </main>
    );
  }
  const sibling = new Map((entity?.jobs ?? []).map((j) => [j.id, j]));
  const following = (entity?.jobs ?? []).filter((j) => j.precedingJobs.includes(job.id));
  const base = `/p/${encodeURIComponent(job.project)}`;
  // A job of a pull request from a fork waits for a person: waitingFor.approval
  // names the gate (the job itself, when it is the gate).
  const isGate = job.tag === APPROVAL_TAG;
  const gate = job.waitingFor?.approval;
  const waits = waitText(job);
  const shownAttempt = attempt ?? job.attempt;
  const running = job.status === 'running' && shownAttempt === job.attempt;

  return (
    <main id="main" className="job-page">
      <aside className="meta">
        <h1>
          {job.name} <span className="muted">#{job.id}</span>
        </h1>
        <p>
          <JobBadge job={job} /> {job.reason ? <span className="muted">{job.reason}</span> : null}
        </p>
        <JobActors job={job} />
        {gate !== undefined ? (
          <div className="approval" data-testid="approval">
            <p>
              <strong>Waits for a person to approve it.</strong>{' '}
              {isGate ? (
                'This gate holds the jobs of a pull request from a fork'
              ) : (
                <>
                  It belongs to a pull request from a fork and waits behind <Link to={`/j/${gate}`}>approval #{gate}</Link>
                </>
              )}
              : they run only once an admin or a project owner approves them, and never get the project&apos;s secrets.
            </p>
            {mayAct ? (
              <p>
                <button type="button" disabled={acting} onClick={() => void act('approve')}>
                  Approve
                </button>
              </p>
            ) : (
              <p className="muted">
                <Link to="/sign-in">Sign in</Link> with an admin or a project token to approve it.
              </p>
            )}
          </div>
        ) : null}
        {waits.length > 0 ? (
          <ul className="waits" aria-label="Waits for">
            {waits.map((w) => (
              <li key={w}>
                <Said text={w} />
              </li>
            ))}
          </ul>
        ) : null}
        {mayAct ? (
          <p className="actions">
            {!ended(job.status) ? (
              <button type="button" className="danger" disabled={acting} onClick={() => void act('cancel')}>
                Cancel
              </button>
            ) : (
              <button type="button" disabled={acting} onClick={() => void act('retry')}>
                Retry
              </button>
            )}
          </p>
        ) : null}
        <ErrorText error={actionError} />
        <dl>
          <Row k="Project">
            <Link to={base}>{job.project}</Link>
          </Row>
          <Row k="Entity">
            <Link className="mono" to={`${base}/${encodeURIComponent(job.entityKey)}/${encodeURIComponent(job.entityVal)}`}>
              {job.entityKey}/{job.entityVal}
            </Link>
          </Row>
          {entity?.collections.length ? (
            <Row k="Collections">
              {entity.collections.map((c, i) => (
                <span key={`${c.key}/${c.value}`}>
                  {i > 0 ? ', ' : ''}
                  <Link to={`${base}/${encodeURIComponent(c.key)}/${encodeURIComponent(c.value)}`}>
                    {c.key}/{c.value}
                  </Link>
                </span>
              ))}
            </Row>
          ) : null}
          <Row k="Tag">
            <span className="mono">{job.tag}</span>
          </Row>
          <Row k="Runner">{job.runnerName ?? <span className="muted">–</span>}</Row>
          <Row k="Attempt">
            {job.attempt} of {job.maxAttempts}
          </Row>
          <Row k="Created">
            <RelTime at={job.createdAt} />
          </Row>
          <Row k="Queued">
            <RelTime at={job.queuedAt} />
          </Row>
          <Row k="Started">
            <RelTime at={job.startedAt} />
          </Row>
          <Row k="Ended">
            <RelTime at={job.endedAt} />
          </Row>
          <Row k="Duration">
            <Duration from={job.startedAt} to={job.endedAt} />
          </Row>
          <Row k="Exit code">{job.exitCode ?? <span className="muted">–</span>}</Row>
          {job.earliestStart ? (
            <Row k="Not before">
              <RelTime at={job.earliestStart} />
            </Row>
          ) : null}
          {job.parentJob ? (
            <Row k="Submitted by">
              <Link to={`/j/${job.parentJob}`}>#{job.parentJob}</Link>
            </Row>
          ) : null}
          <Row k="After">
            {job.precedingJobs.length === 0 ? <span className="muted">–</span> : null}
            {job.precedingJobs.map((p, i) => (
              <span key={p}>
                {i > 0 ? ', ' : ''}
                <Link to={`/j/${p}`}>{sibling.get(p)?.name ?? `#${p}`}</Link>
              </span>
            ))}
          </Row>
          <Row k="Before">
            {following.length === 0 ? <span className="muted">–</span> : null}
            {following.map((f, i) => (
              <span key={f.id}>
                {i > 0 ? ', ' : ''}
                <Link to={`/j/${f.id}`}>{f.name}</Link>
              </span>
            ))}
          </Row>
        </dl>
        <details>
          <summary>Command and environment</summary>
          <pre className="cmd">{job.cmd}</pre>
          <dl className="env">
            {Object.entries(job.env).map(([k, v]) => (
              <Row key={k} k={k}>
                <span className="mono">{v}</span>
              </Row>
            ))}
            {job.secretEnvNames.map((k) => (
              <Row key={k} k={k}>
                <span className="muted">secret</span>
              </Row>
            ))}
          </dl>
        </details>
        {job.startedAt ? <JobArtifacts job={job.id} isPrivate={isPrivate} /> : null}
      </aside>
      <div className="log-col">
        {job.attempt > 1 ? (
          <nav className="attempts" aria-label="Attempts">
            {Array.from({ length: job.attempt }, (_, i) => i + 1).map((a) => (
              <button key={a} type="button" aria-pressed={a === shownAttempt} onClick={() => setAttempt(a === job.attempt ? null : a)}>
                Attempt {a}
              </button>
            ))}
          </nav>
        ) : null}
        {job.status === 'waiting' || job.status === 'queued' ? (
          <p className="muted">{isGate ? 'An approval gate runs on no runner: it has no log.' : 'The log appears when a runner starts the job.'}</p>
        ) : job.logExpiredAt && shownAttempt === job.attempt ? (
          <p className="muted log-expired">
            The log expired on {new Date(job.logExpiredAt).toLocaleString()}: its project keeps logs for a limited time.
          </p>
        ) : (
          <LogView key={logKey} job={job.id} attempt={attempt} running={running} />
        )}
      </div>
    </main>
  );
}
