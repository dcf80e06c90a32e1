// integrations.ts: a project's connected repositories, connecting, changing,
// testing and disconnecting one.
import { api, type Schemas } from './client';
import { answer, refetch, type Query } from './query';
import { topics } from './topics';

export const integrationsQuery = (project: string): Query<Schemas['IntegrationList']> => ({
  key: ['project', project, 'integrations'],
  fetch: (signal) => answer(api.GET('/api/v1/projects/{project}/integrations', { params: { path: { project } }, signal })),
  // A delivery submits jobs: their events bring the last delivery and statuses.
  topics: [topics.project(project)],
});

const changed = (project: string) => refetch(['project', project, 'integrations']);

export async function createIntegration(project: string, body: Schemas['IntegrationCreate']) {
  const r = await answer(api.POST('/api/v1/projects/{project}/integrations', { params: { path: { project } }, body }));
  changed(project);
  return r;
}

export async function updateIntegration(project: string, id: number, body: Schemas['IntegrationUpdate']) {
  const r = await answer(api.PATCH('/api/v1/projects/{project}/integrations/{id}', { params: { path: { project, id } }, body }));
  changed(project);
  return r;
}

export async function deleteIntegration(project: string, id: number) {
  const r = await answer(api.DELETE('/api/v1/projects/{project}/integrations/{id}', { params: { path: { project, id } } }));
  changed(project);
  return r;
}

// testIntegration sends a test status for commit sha.
export async function testIntegration(project: string, id: number, sha: string) {
  const r = await answer(api.POST('/api/v1/projects/{project}/integrations/{id}/test', { params: { path: { project, id } }, body: { sha } }));
  changed(project);
  return r;
}
