// logProtocol.ts is what the log view and its worker (logWorker.ts) say to each
// other: the page opens an attempt, feeds it chunks from the event stream and asks
// for lines, times and searches; the worker answers with the log's shape (Meta),
// lines, times and matches.
import type { Group } from '../lib/groups';
import type { GroupTimes } from '../lib/logTimes';

export type ToWorker =
  | { t: 'open'; job: number; attempt: number | null; token: string | null; tail: number }
  | { t: 'more' }
  | { t: 'chunk'; offset: number; bytes: Uint8Array; time: number }
  | { t: 'lines'; from: number; to: number; epoch: number }
  | { t: 'times'; from: number; to: number; epoch: number; ver: number }
  | { t: 'search'; q: string; req: number; caseSensitive: boolean };

export interface Meta {
  t: 'meta';
  count: number; // lines held
  complete: boolean; // base is 0: line i is line i+1 of the log
  epoch: number; // bumps when earlier lines were put in front
  prepended: number; // lines put in front in this epoch change
  length: number; // bytes of the log known
  groups: TimedGroup[];
  origin: number; // when the attempt started (ms since the epoch), NaN until known
  skew: number; // how far this clock is ahead of the server's (ms), NaN until known
  timesVer: number; // bumps when times of lines already sent may have changed
  error?: string;
}

// TimedGroup is a group with the times its first and last line arrived (ms since
// the epoch, on the server's clock), so its duration needs no start time.
export type TimedGroup = Group & GroupTimes;

export type FromWorker =
  | Meta
  | { t: 'lines'; from: number; lines: string[]; times: Float64Array; epoch: number }
  | { t: 'times'; from: number; times: Float64Array; epoch: number; ver: number }
  | { t: 'search'; req: number; lines: Int32Array; total: number; epoch: number; ms: number };

// emptyMeta stands for "nothing heard from the worker yet" (its epochs start at 0).
export const emptyMeta: Meta = {
  t: 'meta',
  count: 0,
  complete: false,
  epoch: -1,
  prepended: 0,
  length: 0,
  groups: [],
  origin: NaN,
  skew: NaN,
  timesVer: 0,
};
