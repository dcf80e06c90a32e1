// caches.ts: the caches a project's jobs saved (aura-runner cache save), and
// deleting one (a maintainer's).
import { api, type Schemas } from './client';
import { answer, refetch, type Query } from './query';

export type Cache = Schemas['Cache'];

export const cachesQuery = (project: string): Query<Schemas['CacheList']> => ({
  key: ['project', project, 'caches'],
  fetch: (signal) => answer(api.GET('/api/v1/projects/{project}/caches', { params: { path: { project } }, signal })),
});

// deleteCache deletes the cache under key (its slashes are sent as %2F).
export async function deleteCache(project: string, key: string) {
  const r = await answer(api.DELETE('/api/v1/projects/{project}/caches/{key}', { params: { path: { project, key } } }));
  refetch(['project', project, 'caches']);
  return r;
}
