// relativeTime says how long ago (or how far ahead) `then` is from `now`, in the
// coarsest unit that keeps it short: "just now", "42 s ago", "5 min ago", "in 3 h".
export function relativeTime(then: Date | string | number, now: number = Date.now()): string {
  const t = typeof then === 'number' ? then : new Date(then).getTime();
  if (!Number.isFinite(t)) return '';
  const diff = Math.round((now - t) / 1000);
  const abs = Math.abs(diff);
  if (abs < 5) return 'just now';
  let text: string;
  if (abs < 60) text = `${abs} s`;
  else if (abs < 3600) text = `${Math.floor(abs / 60)} min`;
  else if (abs < 86400) text = `${Math.floor(abs / 3600)} h`;
  else if (abs < 86400 * 60) text = `${Math.floor(abs / 86400)} d`;
  else if (abs < 86400 * 730) text = `${Math.floor(abs / (86400 * 30))} mo`;
  else text = `${Math.floor(abs / (86400 * 365))} y`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

// refreshDelay is how long the text of relativeTime stays right, so a clock
// updates seconds every second and hours only every minute.
export function refreshDelay(then: Date | string | number, now: number = Date.now()): number {
  const t = typeof then === 'number' ? then : new Date(then).getTime();
  const abs = Math.abs(now - t);
  if (abs < 60_000) return 1000;
  if (abs < 3_600_000) return 10_000;
  return 60_000;
}

// formatDuration writes a duration in milliseconds as "850 ms", "12.3 s", "4 min 05 s", "2 h 03 min".
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, '0')} min`;
}
