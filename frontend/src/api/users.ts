// users.ts: the instance's users (admin): list, create (with a password or an
// invitation link), change (disable, enable, admin), a new password link, delete.
import { api, type Schemas, type User } from './client';
import { answer, refetch, type Query } from './query';

export const usersQuery = (): Query<User[]> => ({
  key: ['users'],
  fetch: (signal) => answer(api.GET('/api/v1/users', { signal })),
});

export async function createUser(body: Schemas['UserCreate']) {
  const r = await answer(api.POST('/api/v1/users', { body }));
  refetch(['users']);
  return r;
}

export async function updateUser(user: string, body: Schemas['UserUpdate']) {
  const r = await answer(api.PATCH('/api/v1/users/{user}', { params: { path: { user } }, body }));
  refetch(['users']);
  return r;
}

// resetPassword makes a new invitation link that sets the user's password once.
export function resetPassword(user: string) {
  return answer(api.POST('/api/v1/users/{user}/invitation', { params: { path: { user } } }));
}

export async function deleteUser(user: string) {
  const r = await answer(api.DELETE('/api/v1/users/{user}', { params: { path: { user } } }));
  refetch(['users']);
  return r;
}
