// runners.ts: the runners, and registering one.
import { api, type Schemas } from './client';
import { answer, refetch, type Query } from './query';
import { topics } from './topics';

export const runnersQuery = (): Query<Schemas['RunnerList']> => ({
  key: ['runners'],
  fetch: (signal) => answer(api.GET('/api/v1/runners', { params: { query: { limit: 200 } }, signal })),
  // Check-ins come on runners; the jobs each runs now change with the queue's events.
  topics: [topics.runners, topics.queue],
});

export async function createRunner(body: Schemas['RunnerCreate']) {
  const r = await answer(api.POST('/api/v1/runners', { body }));
  refetch(['runners']);
  return r;
}
