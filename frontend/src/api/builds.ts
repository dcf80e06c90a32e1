// builds.ts: a project's builds (its entities newest first, with their commit
// message, author and job squares), what a failed job printed about why, and
// the build-level actions (retry the failed jobs, cancel all).
import { api, type Schemas } from './client';
import { answer, refetch, type Query } from './query';
import { topics } from './topics';

export type Build = Schemas['Build'];
export type BuildStatus = Schemas['BuildStatus'];
export type BuildList = Schemas['BuildList'];
export type EntityMeta = Schemas['EntityMeta'];
export type JobAnnotations = Schemas['JobAnnotations'];

export const BUILD_STATUSES: BuildStatus[] = ['running', 'pending', 'failure', 'success'];

export interface BuildFilter {
  collection?: string; // key/value, such as ref/main
  status?: BuildStatus | '';
  author?: string;
}

// buildsQuery is one page of a project's builds: the newest (before absent) or
// those older than a page's next cursor. Every job change of the project comes
// on its topic, so a page follows its builds live.
export const buildsQuery = (project: string, filter: BuildFilter, before?: string): Query<BuildList> => ({
  key: ['project', project, 'builds', filter.collection ?? '', filter.status ?? '', filter.author ?? '', before ?? ''],
  fetch: (signal) =>
    answer(
      api.GET('/api/v1/projects/{project}/builds', {
        params: {
          path: { project },
          query: {
            ...(before ? { before } : {}),
            ...(filter.collection ? { collection: filter.collection } : {}),
            ...(filter.status ? { status: filter.status } : {}),
            ...(filter.author ? { author: filter.author } : {}),
          },
        },
        signal,
      }),
    ),
  topics: [topics.project(project)],
});

// annotationsQuery is what job id's log says about why it failed: its
// annotations and last lines. A retried job's log starts over: its topic says so.
export const annotationsQuery = (id: number, tail = 20): Query<JobAnnotations> => ({
  key: ['job', id, 'annotations', tail],
  fetch: (signal) => answer(api.GET('/api/v1/jobs/{id}/annotations', { params: { path: { id }, query: { tail } }, signal })),
  topics: [topics.job(id)],
});

export type EntityAction = 'retry-failed' | 'cancel';

// actOnEntity retries the failed (and skipped) jobs of an entity, or cancels
// all of its jobs that have not ended.
export async function actOnEntity(project: string, key: string, val: string, what: EntityAction) {
  const params = { params: { path: { project, key, val } } };
  const r = await answer(
    what === 'cancel'
      ? api.POST('/api/v1/projects/{project}/entities/{key}/{val}/cancel', params)
      : api.POST('/api/v1/projects/{project}/entities/{key}/{val}/retry-failed', params),
  );
  refetch(['project', project]);
  return r;
}

// buildLabel is a build's one line: the commit's first line, else the request's
// title, else the entity itself.
export function buildLabel(b: { key: string; value: string; title: string; meta: EntityMeta }): string {
  const first = (b.meta.message ?? '').split('\n')[0]?.trim();
  return b.title || first || b.meta.requestTitle || `${b.key}/${b.value}`;
}

// authorOf is who a build is by, as its author filter takes it: the login, or
// the name where the forge gave no login.
export function authorOf(m: EntityMeta): string {
  return m.authorLogin || m.authorName || '';
}
