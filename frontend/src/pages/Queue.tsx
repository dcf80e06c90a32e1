import { Link, useSearchParams } from 'react-router';
import { queueQuery, runningQuery } from '../api/jobs';
import { useQuery } from '../api/query';
import { Duration, ErrorText, JobBadge, Loading, Page, RelTime, Said } from '../components/common';
import { awaitsApproval } from '../lib/jobLabel';
import { waitText } from '../lib/waiting';

export function QueuePage() {
  const [params, setParams] = useSearchParams();
  const project = params.get('project') ?? '';
  const tag = params.get('tag') ?? '';
  const r = useQuery(queueQuery({ project, tag }));
  const jobs = r.data?.items;
  const running = useQuery(runningQuery({ project, tag }));
  const set = (k: string, v: string) => {
    const n = new URLSearchParams(params);
    if (v) n.set(k, v);
    else n.delete(k);
    setParams(n, { replace: true });
  };
  return (
    <Page title="Queue">
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Project <input defaultValue={project} onChange={(e) => set('project', e.target.value.trim())} />
        </label>
        <label>
          Tag <input defaultValue={tag} onChange={(e) => set('tag', e.target.value.trim())} />
        </label>
      </form>
      <section aria-label="Running now" className="running-now">
        <h2>Running now</h2>
        <ErrorText error={running.error} />
        {running.data && running.data.items.length === 0 ? <p className="muted">Nothing is running.</p> : null}
        {running.data && running.data.items.length > 0 ? (
          <table className="list">
            <thead>
              <tr>
                <th>Job</th>
                <th>Status</th>
                <th className="hide-narrow">Project</th>
                <th>Runner</th>
                <th>Elapsed</th>
              </tr>
            </thead>
            <tbody>
              {running.data.items.map((j) => (
                <tr key={j.id} data-running={j.id}>
                  <td>
                    <Link to={`/j/${j.id}`}>{j.name}</Link> <span className="muted">#{j.id}</span>
                  </td>
                  <td>
                    <JobBadge job={j} />
                  </td>
                  <td className="hide-narrow">
                    <Link to={`/p/${encodeURIComponent(j.project)}`}>{j.project}</Link>
                  </td>
                  <td>{j.runnerName ?? ''}</td>
                  <td>
                    <Duration from={j.startedAt} to={undefined} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </section>
      <h2>Queued and waiting</h2>
      <ErrorText error={r.error} />
      {!jobs && !r.error ? <Loading /> : null}
      {jobs && jobs.length === 0 ? <p className="muted">Nothing is queued or waiting.</p> : null}
      {jobs && jobs.length > 0 ? (
        <table className="list">
          <thead>
            <tr>
              <th>Job</th>
              <th>Status</th>
              <th className="hide-narrow">Project</th>
              <th className="hide-narrow">Tag</th>
              <th>Waits for</th>
              <th className="hide-narrow">Created</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => (
              <tr key={j.id}>
                <td>
                  <Link to={`/j/${j.id}`}>{j.name}</Link> <span className="muted">#{j.id}</span>
                </td>
                <td>
                  <JobBadge job={j} />
                </td>
                <td className="hide-narrow">
                  <Link to={`/p/${encodeURIComponent(j.project)}`}>{j.project}</Link>
                </td>
                <td className="hide-narrow mono">{j.tag}</td>
                <td className="muted">
                  {awaitsApproval(j) !== undefined ? (
                    'a pull request from a fork: waits for an admin or a project owner to approve it'
                  ) : (
                    <Said text={waitText(j).join('; ')} />
                  )}
                </td>
                <td className="hide-narrow">
                  <RelTime at={j.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Page>
  );
}
