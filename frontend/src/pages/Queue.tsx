import { Link, useSearchParams } from 'react-router';
import { api, errorText } from '../api/client';
import { useResource } from '../api/live';
import { ErrorText, JobBadge, Loading, Page, RelTime } from '../components/common';
import { awaitsApproval } from '../lib/jobLabel';
import { waitText } from '../lib/waiting';

export function QueuePage() {
  const [params, setParams] = useSearchParams();
  const project = params.get('project') ?? '';
  const tag = params.get('tag') ?? '';
  const r = useResource(
    async (signal) => {
      const query = { limit: 200, ...(project ? { project } : {}), ...(tag ? { tag } : {}) };
      const [q, runners] = await Promise.all([
        api.GET('/api/v1/queue', { params: { query }, signal }),
        api.GET('/api/v1/runners', { params: { query: { limit: 200 } }, signal }),
      ]);
      if (!q.data) return { error: errorText(q.error, q.response.status), status: q.response.status };
      return { data: { jobs: q.data.items, runners: runners.data?.items } };
    },
    [project, tag],
    ['queue'],
  );
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
      <ErrorText error={r.error} />
      {!r.data && !r.error ? <Loading /> : null}
      {r.data && r.data.jobs.length === 0 ? <p className="muted">Nothing is queued or waiting.</p> : null}
      {r.data && r.data.jobs.length > 0 ? (
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
            {r.data.jobs.map((j) => (
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
                  {awaitsApproval(j) !== undefined
                    ? 'a pull request from a fork: waits for an admin or a project owner to approve it'
                    : waitText(j, r.data?.runners).join('; ')}
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
