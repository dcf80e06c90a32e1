import { Link, useParams } from 'react-router';
import { api, errorText } from '../api/client';
import { useResource } from '../api/live';
import { ErrorText, Loading, Page } from '../components/common';

export function ProjectPage() {
  const { project = '' } = useParams();
  const r = useResource(
    async (signal) => {
      const path = { project };
      const [p, ek, ck] = await Promise.all([
        api.GET('/api/v1/projects/{project}', { params: { path }, signal }),
        api.GET('/api/v1/projects/{project}/entities', { params: { path }, signal }),
        api.GET('/api/v1/projects/{project}/collections', { params: { path }, signal }),
      ]);
      if (!p.data) return { error: errorText(p.error, p.response.status), status: p.response.status };
      return { data: { project: p.data, entityKeys: ek.data?.items ?? [], collectionKeys: ck.data?.items ?? [] } };
    },
    [project],
    [`project:${project}`],
  );
  const base = `/p/${encodeURIComponent(project)}`;
  return (
    <Page
      title={
        <>
          {r.data?.project.name ?? project} <span className="muted mono small">{project}</span>
        </>
      }
    >
      <ErrorText error={r.error} />
      {!r.data && !r.error ? <Loading /> : null}
      {r.data ? (
        <div className="cols">
          <section>
            <h2>Entities</h2>
            {r.data.entityKeys.length === 0 ? <p className="muted">No jobs submitted yet.</p> : null}
            <ul className="keys">
              {r.data.entityKeys.map((k) => (
                <li key={k.key}>
                  <Link to={`${base}/${encodeURIComponent(k.key)}`}>{k.key}</Link> <span className="muted">{k.count}</span>
                </li>
              ))}
            </ul>
          </section>
          <section>
            <h2>Collections</h2>
            {r.data.collectionKeys.length === 0 ? <p className="muted">None.</p> : null}
            <ul className="keys">
              {r.data.collectionKeys.map((k) => (
                <li key={k.key}>
                  <Link to={`${base}/${encodeURIComponent(k.key)}`}>{k.key}</Link> <span className="muted">{k.count}</span>
                </li>
              ))}
            </ul>
          </section>
        </div>
      ) : null}
    </Page>
  );
}
