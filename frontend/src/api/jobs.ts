// jobs.ts: one job, the queue, and what a person does to a job (cancel, retry,
// approve), plus the whole log of an attempt as a file.
import { api, authHeaders, type Job, type Schemas } from './client';
import { answer, refetch, type Query } from './query';
import { topics } from './topics';

export const jobQuery = (id: number): Query<Job> => ({
  key: ['job', id],
  fetch: (signal) => answer(api.GET('/api/v1/jobs/{id}', { params: { path: { id } }, signal })),
  topics: [topics.job(id)],
});

export interface QueueFilter {
  project?: string;
  tag?: string;
}

export const queueQuery = ({ project, tag }: QueueFilter): Query<Schemas['JobList']> => ({
  key: ['queue', project ?? '', tag ?? ''],
  fetch: (signal) =>
    answer(api.GET('/api/v1/queue', { params: { query: { limit: 200, ...(project ? { project } : {}), ...(tag ? { tag } : {}) } }, signal })),
  topics: [topics.queue],
});

// runningQuery is the jobs running now, which the queue page shows apart.
export const runningQuery = ({ project, tag }: QueueFilter): Query<Schemas['JobList']> => ({
  key: ['queue', 'running', project ?? '', tag ?? ''],
  fetch: (signal) =>
    answer(
      api.GET('/api/v1/queue', {
        params: { query: { status: 'running', limit: 200, ...(project ? { project } : {}), ...(tag ? { tag } : {}) } },
        signal,
      }),
    ),
  topics: [topics.queue],
});

export type JobAction = 'cancel' | 'retry' | 'approve';

// actOnJob cancels, retries or approves job id (for approve: the gate or any job
// it holds).
export async function actOnJob(id: number, what: JobAction) {
  const params = { params: { path: { id } } };
  const r = await answer(
    what === 'cancel'
      ? api.POST('/api/v1/jobs/{id}/cancel', params)
      : what === 'approve'
        ? api.POST('/api/v1/jobs/{id}/approve', params)
        : api.POST('/api/v1/jobs/{id}/retry', params),
  );
  refetch(['job', id]);
  return r;
}

// logBlob is an attempt's whole log (null: the current attempt).
export async function logBlob(id: number, attempt: number | null): Promise<Blob> {
  const q = attempt ? `?attempt=${attempt}` : '';
  const res = await fetch(`/api/v1/jobs/${id}/log${q}`, { headers: authHeaders() });
  if (!res.ok) throw new Error(`the log answered ${res.status}`);
  return res.blob();
}
