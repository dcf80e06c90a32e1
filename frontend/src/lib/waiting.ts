// waiting says in words what a job still waits for.
import { relativeTime } from './relativeTime';

interface JobLike {
  status: string;
  waitingFor?: {
    jobs: Array<{ id: number; name: string; status: string }>;
    until?: string;
    runner?: { message: string };
  };
}

const notStarted: Record<string, string> = {
  waiting: 'which is waiting itself',
  queued: 'which has not started',
  running: 'which is running',
};

// waitText returns sentences such as "waiting for build (#12), which has not
// started", "delayed until 14:05", and for a queued job the server's own word on
// its runners ("no runner has asked for tag `gpu` in the last 10 minutes"): the
// server knows when a runner last asked, and when that is too long ago.
export function waitText(job: JobLike, now: number = Date.now()): string[] {
  const out: string[] = [];
  if (job.status === 'waiting' && job.waitingFor) {
    for (const p of job.waitingFor.jobs) {
      out.push(`waiting for ${p.name} (#${p.id}), ${notStarted[p.status] ?? p.status.replace('_', ' ')}`);
    }
    if (job.waitingFor.until) {
      const d = new Date(job.waitingFor.until);
      out.push(`delayed until ${d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })} (${relativeTime(d, now)})`);
    }
  }
  if (job.waitingFor?.runner) out.push(job.waitingFor.runner.message);
  return out;
}
