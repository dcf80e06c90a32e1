// projects.ts: the projects, one project, and making one with its first token.
import { api, type Project, type Schemas } from './client';
import { answer, refetch, type Query } from './query';
import { topics } from './topics';

export const projectsQuery = (): Query<Schemas['ProjectList']> => ({
  key: ['projects'],
  fetch: (signal) => answer(api.GET('/api/v1/projects', { params: { query: { limit: 200 } }, signal })),
});

export const projectQuery = (project: string): Query<Project> => ({
  key: ['project', project],
  fetch: (signal) => answer(api.GET('/api/v1/projects/{project}', { params: { path: { project } }, signal })),
  topics: [topics.project(project)],
});

export async function createProject(body: Schemas['ProjectCreate']) {
  const r = await answer(api.POST('/api/v1/projects', { body }));
  refetch(['projects']);
  return r;
}

export function createProjectToken(project: string, name: string) {
  return answer(api.POST('/api/v1/projects/{project}/tokens', { params: { path: { project } }, body: { name } }));
}
