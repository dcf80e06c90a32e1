import { Link } from 'react-router';
import type { Project } from '../api/client';
import { entityKeysQuery, latestEntitiesQuery } from '../api/entities';
import { projectsQuery } from '../api/projects';
import { useQuery } from '../api/query';
import { ErrorText, Loading, Page, RelTime, Status } from '../components/common';
import { useMe } from '../api/me';

// LatestEntities shows the newest entities of a project's first entity key.
function LatestEntities({ project }: { project: Project }) {
  const keys = useQuery(entityKeysQuery(project.slug));
  const key = keys.data?.items[0]?.key;
  const r = useQuery(key ? latestEntitiesQuery(project.slug, key, 5) : null);
  if (!key || !r.data) return <span className="muted">{keys.error ?? r.error ?? ''}</span>;
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
  const r = useQuery(projectsQuery());
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
