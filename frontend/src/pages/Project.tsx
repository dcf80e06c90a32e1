import { lazy, Suspense } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { collectionKeysQuery, entityKeysQuery } from '../api/entities';
import { useMe } from '../api/me';
import { projectQuery } from '../api/projects';
import { useQuery } from '../api/query';
import { BuildsList } from '../components/Builds';
import { ErrorText, Loading, Page } from '../components/common';
import '../components/forge.css';

// The admin's tabs load on demand: most visitors never see them.
const IntegrationsTab = lazy(() => import('./Integrations'));
const SecretsTab = lazy(() => import('./Secrets'));
const NotificationsTab = lazy(() => import('./Notifications'));

const TABS = [
  ['jobs', 'Jobs'],
  ['integrations', 'Integrations'],
  ['secrets', 'Secrets'],
  ['notifications', 'Notifications'],
] as const;
type Tab = (typeof TABS)[number][0];

// ProjectTabs links the project's sections; the tab is in the query
// (?tab=integrations), so it is deep-linkable and no entity key is shadowed.
function ProjectTabs({ tab, base }: { tab: Tab; base: string }) {
  return (
    <nav className="tabs" aria-label="Project sections">
      {TABS.map(([t, label]) => (
        <Link key={t} to={t === 'jobs' ? base : `${base}?tab=${t}`} aria-current={t === tab ? 'page' : undefined}>
          {label}
        </Link>
      ))}
    </nav>
  );
}

export function ProjectPage() {
  const { project = '' } = useParams();
  const [search] = useSearchParams();
  const me = useMe();
  // Tokens, secrets and integrations: whoever may manage this project.
  const admin = !!me && (me.permissions.admin || !!me.permissions.projects[project]?.manage);
  const asked = search.get('tab');
  const tab: Tab = TABS.some(([t]) => t === asked) ? (asked as Tab) : 'jobs';
  const p = useQuery(projectQuery(project));
  const entityKeys = useQuery(entityKeysQuery(project)).data?.items ?? [];
  const collectionKeys = useQuery(collectionKeysQuery(project)).data?.items ?? [];
  const r = { error: p.error, data: p.data && { project: p.data, entityKeys, collectionKeys } };
  const base = `/p/${encodeURIComponent(project)}`;
  return (
    <Page
      doc={r.data?.project.name ?? project}
      title={
        <>
          {r.data?.project.name ?? project} <span className="muted mono small">{project}</span>
        </>
      }
    >
      <ErrorText error={r.error} />
      {!r.data && !r.error ? <Loading /> : null}
      {r.data && admin ? <ProjectTabs tab={tab} base={base} /> : null}
      {r.data && tab !== 'jobs' && !admin ? (
        <p>
          Only the admin token manages a project's {tab}. <Link to="/sign-in">Sign in</Link> with it.
        </p>
      ) : null}
      {r.data && admin && tab !== 'jobs' ? (
        <Suspense fallback={<Loading />}>
          {tab === 'integrations' ? <IntegrationsTab project={project} /> : null}
          {tab === 'secrets' ? <SecretsTab project={project} /> : null}
          {tab === 'notifications' ? <NotificationsTab project={project} /> : null}
        </Suspense>
      ) : null}
      {r.data && tab === 'jobs' ? <BuildsList project={project} /> : null}
      {r.data && tab === 'jobs' ? (
        <div className="cols browse-keys">
          <section>
            <h2>Entity keys</h2>
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
            <h2>Collection keys</h2>
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
