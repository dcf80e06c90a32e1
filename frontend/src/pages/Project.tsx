import { lazy, Suspense } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { collectionKeysQuery, entityKeysQuery } from '../api/entities';
import { mayReadMembers, useMe, type Me } from '../api/me';
import { projectQuery } from '../api/projects';
import { useQuery } from '../api/query';
import { BuildsList } from '../components/Builds';
import { ErrorText, Loading, Page } from '../components/common';
import '../components/forge.css';

// The admin's tabs load on demand: most visitors never see them.
const IntegrationsTab = lazy(() => import('./Integrations'));
const SecretsTab = lazy(() => import('./Secrets'));
const MembersTab = lazy(() => import('./Members'));
const CachesTab = lazy(() => import('./Caches'));
const SchedulesTab = lazy(() => import('./Schedules'));
const NotificationsTab = lazy(() => import('./Notifications'));

const TABS = [
  ['jobs', 'Jobs'],
  ['schedules', 'Schedules'],
  ['members', 'Members'],
  ['integrations', 'Integrations'],
  ['secrets', 'Secrets'],
  ['caches', 'Caches'],
  ['notifications', 'Notifications'],
] as const;
type Tab = (typeof TABS)[number][0];

// ProjectTabs links the project's sections; the tab is in the query
// (?tab=integrations), so it is deep-linkable and no entity key is shadowed.
function ProjectTabs({ tab, base, shown }: { tab: Tab; base: string; shown: readonly Tab[] }) {
  return (
    <nav className="tabs" aria-label="Project sections">
      {TABS.filter(([t]) => shown.includes(t)).map(([t, label]) => (
        <Link key={t} to={t === 'jobs' ? base : `${base}?tab=${t}`} aria-current={t === tab ? 'page' : undefined}>
          {label}
        </Link>
      ))}
    </nav>
  );
}

// READER_TABS are shown to whoever reads the project.
const READER_TABS: readonly Tab[] = ['jobs', 'schedules', 'caches'];

// mayManage: whoever may manage the project (its maintainers, the admin).
function mayManage(me: Me | undefined, project: string): boolean {
  return !!me && (me.permissions.admin || !!me.permissions.projects[project]?.manage);
}

// shownTabs are the tabs me may use: jobs, schedules and caches for whoever reads the
// project, Members for whoever may read its members (viewer and up),
// integrations and secrets for its managers.
export function shownTabs(me: Me | undefined, project: string): Tab[] {
  const manage = mayManage(me, project);
  return TABS.map(([t]) => t).filter((t) => READER_TABS.includes(t) || (t === 'members' ? mayReadMembers(me, project) : manage));
}

export function ProjectPage() {
  const { project = '' } = useParams();
  const [search] = useSearchParams();
  const me = useMe();
  const asked = search.get('tab');
  const tab: Tab = TABS.some(([t]) => t === asked) ? (asked as Tab) : 'jobs';
  const shown = shownTabs(me, project);
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
      {r.data && shown.length > 1 ? <ProjectTabs tab={tab} base={base} shown={shown} /> : null}
      {r.data && !shown.includes(tab) ? (
        <p>
          Only the project's {tab === 'members' ? 'members see its members' : `maintainers manage its ${tab}`}. <Link to="/signin">Sign in</Link>.
        </p>
      ) : null}
      {r.data && tab !== 'jobs' && shown.includes(tab) ? (
        <Suspense fallback={<Loading />}>
          {tab === 'members' ? (
            <MembersTab project={project} />
          ) : tab === 'schedules' ? (
            <SchedulesTab project={project} />
          ) : tab === 'caches' ? (
            <CachesTab project={project} manage={mayManage(me, project)} />
          ) : tab === 'notifications' ? (
            <NotificationsTab project={project} />
          ) : tab === 'integrations' ? (
            <IntegrationsTab project={project} />
          ) : (
            <SecretsTab project={project} />
          )}
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
