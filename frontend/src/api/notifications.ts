// notifications.ts: a project's notification rules (maintainers): list, add,
// change, delete. A webhook rule's signing secret comes back once, in the
// answer that made it.
import { api, type Schemas } from './client';
import { answer, refetch, type Query } from './query';

export type Notification = Schemas['Notification'];
export type NotificationCreate = Schemas['NotificationCreate'];
export type NotificationUpdate = Schemas['NotificationUpdate'];

const key = (project: string) => ['project', project, 'notifications'] as const;

export const notificationsQuery = (project: string): Query<Schemas['NotificationList']> => ({
  key: key(project),
  fetch: (signal) => answer(api.GET('/api/v1/projects/{project}/notifications', { params: { path: { project } }, signal })),
});

export async function createNotification(project: string, body: NotificationCreate) {
  const r = await answer(api.POST('/api/v1/projects/{project}/notifications', { params: { path: { project } }, body }));
  refetch(key(project));
  return r;
}

export async function updateNotification(project: string, id: number, body: NotificationUpdate) {
  const r = await answer(api.PATCH('/api/v1/projects/{project}/notifications/{id}', { params: { path: { project, id } }, body }));
  refetch(key(project));
  return r;
}

export async function deleteNotification(project: string, id: number) {
  const r = await answer(api.DELETE('/api/v1/projects/{project}/notifications/{id}', { params: { path: { project, id } } }));
  refetch(key(project));
  return r;
}
