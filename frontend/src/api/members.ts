// members.ts: a project's members and their roles; maintainers add, change and
// remove them.
import { api, type Member, type Role } from './client';
import { answer, refetch, type Query } from './query';

export const ROLES: readonly Role[] = ['viewer', 'developer', 'maintainer'];

// roleText says what a role may do, for the form that gives it.
export const roleText: Record<Role, string> = {
  viewer: 'reads the project, even when private',
  developer: 'also submits, cancels, retries and approves jobs',
  maintainer: 'also manages settings, integrations, secrets, tokens and members',
};

export const membersQuery = (project: string): Query<Member[]> => ({
  key: ['project', project, 'members'],
  fetch: (signal) => answer(api.GET('/api/v1/projects/{project}/members', { params: { path: { project } }, signal })),
});

// putMember adds user to the project with role, or changes their role.
export async function putMember(project: string, user: string, role: Role) {
  const r = await answer(api.PUT('/api/v1/projects/{project}/members/{user}', { params: { path: { project, user } }, body: { role } }));
  refetch(['project', project, 'members']);
  return r;
}

export async function removeMember(project: string, user: string) {
  const r = await answer(api.DELETE('/api/v1/projects/{project}/members/{user}', { params: { path: { project, user } } }));
  refetch(['project', project, 'members']);
  return r;
}
