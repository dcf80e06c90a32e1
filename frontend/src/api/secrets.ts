// secrets.ts: a project's secret names, setting one and deleting one. Values go
// in and never come back.
import { api, type Schemas } from './client';
import { answer, refetch, type Query } from './query';

export const secretsQuery = (project: string): Query<Schemas['SecretList']> => ({
  key: ['project', project, 'secrets'],
  fetch: (signal) => answer(api.GET('/api/v1/projects/{project}/secrets', { params: { path: { project } }, signal })),
});

// setSecret creates or replaces a secret: status 201 when created.
export async function setSecret(project: string, name: string, value: string) {
  const r = await answer(api.PUT('/api/v1/projects/{project}/secrets/{name}', { params: { path: { project, name } }, body: { value } }));
  refetch(['project', project, 'secrets']);
  return r;
}

export async function deleteSecret(project: string, name: string) {
  const r = await answer(api.DELETE('/api/v1/projects/{project}/secrets/{name}', { params: { path: { project, name } } }));
  refetch(['project', project, 'secrets']);
  return r;
}
