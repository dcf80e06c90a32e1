// waiting says in words what a job still waits for.
import { relativeTime } from './relativeTime';

interface JobLike {
  status: string;
  tag: string;
  waitingFor?: { jobs: Array<{ id: number; name: string; status: string }>; until?: string };
}

interface RunnerLike {
  tags: string[];
  lastCheckIn?: string;
}

const notStarted: Record<string, string> = {
  waiting: 'which is waiting itself',
  queued: 'which has not started',
  running: 'which is running',
};

// waitText returns sentences such as "waiting for build (#12), which has not
// started", "delayed until 14:05" or "no runner has asked for tag gpu in 3 h".
// runners is undefined when unknown.
export function waitText(job: JobLike, runners: RunnerLike[] | undefined, now: number = Date.now()): string[] {
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
  if ((job.status === 'queued' || job.status === 'waiting') && runners) {
    const asked = runners
      .filter((r) => r.tags.includes(job.tag) && r.lastCheckIn)
      .map((r) => new Date(r.lastCheckIn!).getTime())
      .sort((a, b) => b - a)[0];
    if (asked === undefined) out.push(`no runner takes tag ${job.tag}`);
    else if (now - asked > 120_000) out.push(`no runner has asked for tag ${job.tag} since ${relativeTime(asked, now)}`);
    else if (job.status === 'queued') out.push(`queued for tag ${job.tag}`);
  }
  return out;
}
