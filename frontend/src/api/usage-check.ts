// usage-check.ts proves with `tsc` (npm run check:api) that the types generated from
// openapi.yaml are usable: a request body can be built, and response fields read with
// the types the contract promises. It is type-checked only, never bundled.
import type { components, paths } from './schema';

type Schemas = components['schemas'];

export type JobSubmit = Schemas['JobSubmit'];
export type Job = Schemas['Job'];
export type ClaimResponse = Schemas['ClaimResponse'];
export type ApiError = Schemas['Error'];

// The body of POST /api/v1/jobs, taken from the path so the route and schema agree.
type SubmitBody = paths['/api/v1/jobs']['post']['requestBody']['content']['application/json'];
type SubmitCreated = paths['/api/v1/jobs']['post']['responses'][201]['content']['application/json'];
type ClaimOk = paths['/api/v1/runner/claim']['post']['responses'][200]['content']['application/json'];
type LogRange = paths['/api/v1/jobs/{id}/log']['patch']['responses'][416]['content']['application/json'];

export const submit: SubmitBody = {
  project: 'aura',
  entityKey: 'commit',
  entityVal: 'f2ac9bab',
  name: 'build',
  cmd: 'make test',
  tag: 'native,linux',
  env: { GOFLAGS: '-mod=readonly' },
  collections: { ref: 'main' },
  precedingJobs: [12, 13],
  earliestStart: new Date(0).toISOString(),
  priority: 10,
};

// A minimal body is valid too: defaults (timeout, priority, attempts) stay optional.
export const minimal: JobSubmit = {
  entityKey: 'rev',
  entityVal: '1',
  name: 'lint',
  cmd: 'make lint',
  tag: 'docker,linux',
};

export function describeJob(job: SubmitCreated | Job): string {
  const status: Schemas['JobStatus'] = job.status;
  const ended: string | undefined = job.endedAt;
  const exit: number | undefined = job.exitCode;
  const waits: number[] = job.waitingFor?.jobs.map((j) => j.id) ?? [];
  const env: Record<string, string> = job.env;
  return `#${job.id} ${job.project}/${job.entityKey}/${job.entityVal} ${job.name} ` +
    `[${job.tag}] ${status} attempt ${job.attempt}/${job.maxAttempts} ` +
    `log ${job.logLength}B exit ${exit ?? '-'} ended ${ended ?? '-'} ` +
    `waits ${waits.join(',')} secrets ${job.secretEnvNames.join(',')} env ${Object.keys(env).length}`;
}

export function claimedTokens(claim: ClaimOk | ClaimResponse): Array<[number, string]> {
  const every: number = claim.heartbeatSeconds;
  return claim.jobs.map((job) => {
    const secrets: Record<string, string> = job.secretEnv;
    const lease: number = Math.min(job.leaseSeconds, every * 3);
    return [job.id, `${job.token}:${job.attempt}:${lease}:${Object.keys(secrets).length}:${job.logLimit}`];
  });
}

export function resendFrom(err: LogRange): number {
  const e: ApiError = err;
  return e.code === 416 ? err.length : 0;
}
