import { useState } from 'react';
import { Link, useParams } from 'react-router';
import type { Entity, EntitySummary, Job } from '../api/client';
import { collectionQuery, entityQuery } from '../api/entities';
import { actOnJob } from '../api/jobs';
import { mayAct, useMe } from '../api/me';
import { projectQuery } from '../api/projects';
import { useQuery } from '../api/query';
import { Duration, ErrorText, JobBadge, Loading, Page, RelTime, Said, Status } from '../components/common';
import { EntityArtifacts } from '../components/Artifacts';
import { BadgeBox } from '../components/Badge';
import { BuildHeader, WhyFailed } from '../components/Builds';
import { HistoryGrid } from '../components/HistoryGrid';
import { JobGraph } from '../components/JobGraph';
import { APPROVAL_JOB, awaitsApproval, skipCause } from '../lib/jobLabel';
import { waitText } from '../lib/waiting';
import '../components/forge.css';

export function JobsTable({ jobs }: { jobs: Job[] }) {
  return (
    <table className="list jobs">
      <thead>
        <tr>
          <th>Job</th>
          <th>Status</th>
          <th className="hide-narrow">Tag</th>
          <th className="hide-narrow">Runner</th>
          <th className="hide-narrow">Attempt</th>
          <th>Duration</th>
          <th className="hide-narrow">Waits for</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((j) => (
          <tr key={j.id} data-job={j.id}>
            <td>
              <Link to={`/j/${j.id}`}>{j.name}</Link> <span className="muted">#{j.id}</span>
            </td>
            <td>
              <JobBadge job={j} />
              {skipCause(j) ? <div className="muted skip-cause">{skipCause(j)}</div> : null}
            </td>
            <td className="hide-narrow mono">{j.tag}</td>
            <td className="hide-narrow">{j.runnerName ?? ''}</td>
            <td className="hide-narrow">
              {j.attempt}/{j.maxAttempts}
            </td>
            <td>
              <Duration from={j.startedAt} to={j.endedAt} />
            </td>
            <td className="hide-narrow muted">
              <Said text={waitText(j).join('; ')} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

// ApprovalBanner says that jobs of a pull request from a fork wait for a person,
// with Approve for those who may (the gate, or any job it holds, approves them all).
function ApprovalBanner({ entity, reload }: { entity: Entity; reload: () => void }) {
  const me = useMe();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const held = entity.jobs.filter((j) => awaitsApproval(j) !== undefined && j.name !== APPROVAL_JOB);
  const gate = entity.jobs.find((j) => j.name === APPROVAL_JOB && j.status === 'waiting')?.id ?? held.map((j) => awaitsApproval(j))[0];
  if (gate === undefined) return null;
  const approve = async () => {
    setBusy(true);
    setError(undefined);
    const res = await actOnJob(gate, 'approve');
    setBusy(false);
    if (res.error !== undefined) setError(res.error);
    else reload();
  };
  return (
    <div className="approval" data-testid="entity-approval" role="status">
      <p>
        <strong>Waits for approval.</strong> {held.length === 0 ? 'The jobs' : held.length === 1 ? '1 job' : `${held.length} jobs`} of a pull request from a fork run only once an admin or a
        project owner approves them (<Link to={`/j/${gate}`}>approval #{gate}</Link>), and never get the project&apos;s secrets.
      </p>
      {mayAct(me, entity.project) ? (
        <p>
          <button type="button" disabled={busy} onClick={() => void approve()}>
            Approve
          </button>
        </p>
      ) : (
        <p className="muted">
          <Link to="/sign-in">Sign in</Link> with an admin or a project token to approve them.
        </p>
      )}
      <ErrorText error={error} />
    </div>
  );
}

function EntityView({ entity, isPrivate, reload }: { entity: Entity; isPrivate: boolean | undefined; reload: () => void }) {
  const base = `/p/${encodeURIComponent(entity.project)}`;
  return (
    <>
      <ApprovalBanner entity={entity} reload={reload} />
      <BuildHeader entity={entity} />
      <p>
        <Status status={entity.status} /> {entity.summary} · created <RelTime at={entity.createdAt} />
      </p>
      {entity.collections.length > 0 ? (
        <p>
          In{' '}
          {entity.collections.map((c, i) => (
            <span key={`${c.key}/${c.value}`}>
              {i > 0 ? ', ' : ''}
              <Link to={`${base}/${encodeURIComponent(c.key)}/${encodeURIComponent(c.value)}`}>
                {c.key}/{c.value}
              </Link>
            </span>
          ))}
        </p>
      ) : null}
      <JobGraph jobs={entity.jobs} />
      <WhyFailed jobs={entity.jobs} />
      <JobsTable jobs={entity.jobs} />
      {/* A job uploads only once a runner started it. */}
      <EntityArtifacts jobs={entity.jobs.filter((j) => j.startedAt)} isPrivate={isPrivate} />
      <BadgeBox
        project={entity.project}
        entityKey={entity.key}
        val={entity.value}
        collection={false}
        version={`${entity.status} ${entity.summary}`}
        isPrivate={isPrivate}
      />
    </>
  );
}

// CollectionApprovals names the entities whose fork requests wait for a person.
function CollectionApprovals({ project, entities }: { project: string; entities: EntitySummary[] }) {
  const waiting = entities.filter((e) => e.latestJobs?.some((j) => j.name === APPROVAL_JOB && j.status === 'waiting'));
  if (waiting.length === 0) return null;
  return (
    <div className="approval" data-testid="collection-approval" role="status">
      <p>
        <strong>Waits for approval:</strong>{' '}
        {waiting.map((e, i) => (
          <span key={`${e.key}/${e.value}`}>
            {i > 0 ? ', ' : ''}
            <Link className="mono" to={`/p/${encodeURIComponent(project)}/${encodeURIComponent(e.key)}/${encodeURIComponent(e.value)}`}>
              {e.key}/{e.value.slice(0, 12)}
            </Link>
          </span>
        ))}{' '}
        (pull requests from forks; approve them on their pages).
      </p>
    </div>
  );
}

export function ValuePage() {
  const { project = '', key = '', val = '' } = useParams();
  const ent = useQuery(entityQuery(project, key, val));
  // A value that is no entity is a collection.
  const col = useQuery(ent.status === 404 ? collectionQuery(project, key, val) : null);
  const isPrivate = useQuery(projectQuery(project)).data?.private;
  const r = {
    error: ent.status === 404 ? col.error : ent.error,
    reload: ent.reload,
    data: ent.data ? { entity: ent.data } : col.data ? { collection: { entities: col.data.entities } } : undefined,
  };
  const base = `/p/${encodeURIComponent(project)}`;
  return (
    <Page
      wide
      doc={`${key}/${val} · ${project}`}
      title={
        <>
          <Link to={base}>{project}</Link> / <Link to={`${base}/${encodeURIComponent(key)}`}>{key}</Link> / <span className="mono">{val}</span>
        </>
      }
    >
      <ErrorText error={r.error} />
      {!r.data && !r.error ? <Loading /> : null}
      {r.data?.entity ? <EntityView entity={r.data.entity} isPrivate={isPrivate} reload={r.reload} /> : null}
      {r.data?.collection ? (
        <>
          <CollectionApprovals project={project} entities={r.data.collection.entities} />
          <h2>History</h2>
          <HistoryGrid project={project} entities={r.data.collection.entities} />
          <h2>Entities</h2>
          <table className="list">
            <tbody>
              {r.data.collection.entities.map((e) => (
                <tr key={`${e.key}/${e.value}`}>
                  <td>
                    <Link className="mono" to={`${base}/${encodeURIComponent(e.key)}/${encodeURIComponent(e.value)}`}>
                      {e.key}/{e.value}
                    </Link>
                  </td>
                  <td>
                    <Status status={e.status} /> <span className="muted">{e.summary}</span>
                  </td>
                  <td className="hide-narrow">
                    <RelTime at={e.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <BadgeBox
            project={project}
            entityKey={key}
            val={val}
            collection
            version={r.data.collection.entities.map((e) => `${e.value} ${e.status} ${e.summary}`).join('\n')}
            isPrivate={isPrivate}
          />
        </>
      ) : null}
    </Page>
  );
}
