// schedules.ts: a project's schedules (jobs on a cron expression in a time zone),
// creating, changing, deleting and running one now; and running an integration's
// jobs by hand on a branch or a commit.
import { api, type Schemas } from './client';
import { answer, refetch, type Query } from './query';
import { topics } from './topics';

export type Schedule = Schemas['Schedule'];

export const schedulesQuery = (project: string): Query<Schemas['ScheduleList']> => ({
  key: ['project', project, 'schedules'],
  fetch: (signal) => answer(api.GET('/api/v1/projects/{project}/schedules', { params: { path: { project } }, signal })),
  // A run submits jobs into the project: their events bring its last run.
  topics: [topics.project(project)],
});

const changed = (project: string) => refetch(['project', project, 'schedules']);

export async function createSchedule(project: string, body: Schemas['ScheduleCreate']) {
  const r = await answer(api.POST('/api/v1/projects/{project}/schedules', { params: { path: { project } }, body }));
  changed(project);
  return r;
}

export async function updateSchedule(project: string, id: number, body: Schemas['ScheduleUpdate']) {
  const r = await answer(api.PATCH('/api/v1/projects/{project}/schedules/{id}', { params: { path: { project, id } }, body }));
  changed(project);
  return r;
}

export async function deleteSchedule(project: string, id: number) {
  const r = await answer(api.DELETE('/api/v1/projects/{project}/schedules/{id}', { params: { path: { project, id } } }));
  changed(project);
  return r;
}

// runSchedule is Run now, with extra environment values.
export async function runSchedule(project: string, id: number, env: Record<string, string>) {
  const r = await answer(api.POST('/api/v1/projects/{project}/schedules/{id}/run', { params: { path: { project, id } }, body: { env } }));
  changed(project);
  return r;
}

// runIntegration starts an integration's jobs on a branch or a commit.
export async function runIntegration(project: string, id: number, body: Schemas['IntegrationRun']) {
  const r = await answer(api.POST('/api/v1/projects/{project}/integrations/{id}/run', { params: { path: { project, id } }, body }));
  refetch(['project', project, 'integrations']);
  return r;
}
