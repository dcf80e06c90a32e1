// entities.ts: a project's entity and collection keys, the values of a key (a
// page at a time, newest first), one entity with its jobs, one collection.
import { api, type Entity, type EntitySummary, type Schemas } from './client';
import { answer, type Query, type Result } from './query';
import { topics } from './topics';

export type CollectionSummary = Schemas['CollectionSummary'];
type KeyList = Schemas['KeyList'];

export const entityKeysQuery = (project: string): Query<KeyList> => ({
  key: ['project', project, 'entityKeys'],
  fetch: (signal) => answer(api.GET('/api/v1/projects/{project}/entities', { params: { path: { project } }, signal })),
  topics: [topics.project(project)],
});

export const collectionKeysQuery = (project: string): Query<KeyList> => ({
  key: ['project', project, 'collectionKeys'],
  fetch: (signal) => answer(api.GET('/api/v1/projects/{project}/collections', { params: { path: { project } }, signal })),
  topics: [topics.project(project)],
});

// latestEntitiesQuery is the newest few values of an entity key.
export const latestEntitiesQuery = (project: string, key: string, limit: number): Query<Schemas['EntityList']> => ({
  key: ['project', project, 'entities', key, limit],
  fetch: (signal) => answer(api.GET('/api/v1/projects/{project}/entities/{key}', { params: { path: { project, key }, query: { limit } }, signal })),
  topics: [topics.project(project)],
});

export interface ValuesPage {
  items: Array<EntitySummary | CollectionSummary>;
  nextCursor?: string;
}

// valuesPage reads one page of a key's values, entities or collections.
export function valuesPage(project: string, key: string, collection: boolean, cursor: string | undefined, signal: AbortSignal): Promise<Result<ValuesPage>> {
  const params = { path: { project, key }, query: { limit: 50, ...(cursor ? { cursor } : {}) } };
  return collection
    ? answer(api.GET('/api/v1/projects/{project}/collections/{key}', { params, signal }))
    : answer(api.GET('/api/v1/projects/{project}/entities/{key}', { params, signal }));
}

// entityQuery is an entity with its jobs; a value that is a collection answers 404.
export const entityQuery = (project: string, key: string, val: string): Query<Entity> => ({
  key: ['project', project, 'entity', key, val],
  fetch: (signal) => answer(api.GET('/api/v1/projects/{project}/entities/{key}/{val}', { params: { path: { project, key, val } }, signal })),
  // Every change of its jobs comes on the entity's topic.
  topics: [topics.entity(project, key, val)],
});

// collectionQuery is a collection's newest entities, each with its newest job of
// each name (one request for the history grid too).
export const collectionQuery = (project: string, key: string, val: string): Query<Schemas['Collection']> => ({
  key: ['project', project, 'collection', key, val],
  fetch: (signal) =>
    answer(
      api.GET('/api/v1/projects/{project}/collections/{key}/{val}', {
        params: { path: { project, key, val }, query: { limit: 30, latestJobs: true } },
        signal,
      }),
    ),
  topics: [topics.collection(project, key, val), topics.project(project)],
});
