// jobLabel names a job's state as people say it: a job cancelled because a
// preceding job did not succeed is "skipped" (openapi.yaml: its reason starts with
// "preceding job "), and a job held for a person's approval says so.

interface JobLike {
  status: string;
  reason?: string | undefined;
  waitingFor?: { approval?: number | undefined } | undefined;
}

const SKIPPED_REASON_START = 'preceding job ';

// isSkipped reports whether the job never ran because a preceding job did not succeed.
export function isSkipped(j: JobLike): boolean {
  return j.status === 'cancelled' && !!j.reason?.startsWith(SKIPPED_REASON_START);
}

// skipCause is why a skipped job was skipped, "build #3 failed"; undefined otherwise.
export function skipCause(j: JobLike): string | undefined {
  return isSkipped(j) ? j.reason!.slice(SKIPPED_REASON_START.length) : undefined;
}

// awaitsApproval returns the approval gate a waiting job is held by, if any.
export function awaitsApproval(j: JobLike): number | undefined {
  return j.status === 'waiting' ? j.waitingFor?.approval : undefined;
}

// APPROVAL_JOB is the name of a fork request's approval gate (a name no job may take).
export const APPROVAL_JOB = 'approval';

// statusLabel is the word a status badge shows.
export function statusLabel(j: JobLike & { name?: string }): string {
  if (isSkipped(j)) return 'skipped';
  if (j.status === 'waiting' && (awaitsApproval(j) !== undefined || j.name === APPROVAL_JOB)) return 'needs approval';
  return j.status.replace('_', ' ');
}

// statusClass is the CSS class that colours it.
export function statusClass(j: JobLike & { name?: string }): string {
  const l = statusLabel(j);
  if (l === 'skipped') return 'st-skipped';
  if (l === 'needs approval') return 'st-approval';
  return `st-${j.status}`;
}
