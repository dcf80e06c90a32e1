import { Link } from 'react-router';
import { api, errorText, token, type EntitySummary, type Project } from '../api/client';
import { useResource } from '../api/live';
import { ErrorText, Loading, Page, RelTime, Status } from '../components/common';
import { useMe } from '../api/me';

// LatestEntities shows the newest entities of a project's first entity key.
function LatestEntities({ project }: { project: Project }) {
  const r = useResource<{ key: string; items: EntitySummary[] } | null>(
    async (signal) => {
      const keys = await api.GET('/api/v1/projects/{project}/entities', { params: { path: { project: project.slug } }, signal });
      if (!keys.data) return { error: errorText(keys.error), status: keys.response.status };
      const key = keys.data.items[0]?.key;
      if (!key) return { data: null };
      const ents = await api.GET('/api/v1/projects/{project}/entities/{key}', {
        params: { path: { project: project.slug, key }, query: { limit: 5 } },
        signal,
      });
      if (!ents.data) return { error: errorText(ents.error), status: ents.response.status };
      return { data: { key, items: ents.data.items } };
    },
    [project.slug],
    [`project:${project.slug}`],
  );
  if (!r.data) return <span className="muted">{r.error ?? ''}</span>;
  return (
    <span className="latest">
      {r.data.items.map((e) => (
        <Link key={e.value} to={`/p/${encodeURIComponent(project.slug)}/${encodeURIComponent(e.key)}/${encodeURIComponent(e.value)}`} title={`${e.key}/${e.value}: ${e.summary}`}>
          <Status status={e.status} /> <span className="mono">{e.value.slice(0, 12)}</span>
        </Link>
      ))}
    </span>
  );
}

export function ProjectsPage() {
  const me = useMe();
  const r = useResource(
    async (signal) => {
      const res = await api.GET('/api/v1/projects', { params: { query: { limit: 200 } }, signal });
      return res.data ? { data: res.data } : { error: errorText(res.error), status: res.response.status };
    },
    // Refetch when the token changes (signing in or out; a refused token dropped).
    [token()],
  );
  return (
    <Page title="Projects">
      {me?.permissions.createProjects ? (
        <p>
          <Link to="/new-project" className="button">
            New project
          </Link>{' '}
          <Link to="/new-runner" className="button">
            New runner
          </Link>
        </p>
      ) : null}
      <ErrorText error={r.error} />
      {!r.data && !r.error ? <Loading /> : null}
      {r.data && r.data.items.length === 0 ? <p className="muted">No projects yet.</p> : null}
      {r.data && r.data.items.length > 0 ? (
        <table className="list">
          <thead>
            <tr>
              <th>Project</th>
              <th>Latest</th>
              <th className="hide-narrow">Created</th>
            </tr>
          </thead>
          <tbody>
            {r.data.items.map((p) => (
              <tr key={p.slug}>
                <td>
                  <Link to={`/p/${encodeURIComponent(p.slug)}`}>{p.name}</Link> <span className="muted mono">{p.slug}</span>
                  {p.private ? <span className="tag">private</span> : null}
                </td>
                <td>
                  <LatestEntities project={p} />
                </td>
                <td className="hide-narrow">
                  <RelTime at={p.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Page>
  );
}
