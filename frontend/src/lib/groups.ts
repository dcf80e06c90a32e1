// groups finds the collapsible sections of a log: a line `::group::title` opens
// one and `::endgroup::` closes the innermost open one (GitHub Actions' convention).

export interface Group {
  start: number; // the ::group:: line
  end: number; // the ::endgroup:: line, or the last line while it is still open
  title: string;
  open: boolean; // not closed yet
  depth: number;
}

const GROUP = '::group::';
const END = '::endgroup::';

// groupMarker says what a line is: a group start (with title), an end, or neither.
export function groupMarker(line: string): { start: string } | 'end' | null {
  const t = line.replace(/^(?:\x1b\[[0-9;]*m)+/, '');
  if (t.startsWith(GROUP)) return { start: t.slice(GROUP.length).replace(/\x1b\[[0-9;]*m/g, '').trim() };
  if (t.startsWith(END)) return 'end';
  return null;
}

// GroupScanner collects groups line by line, so a growing log is scanned once.
export class GroupScanner {
  groups: Group[] = [];
  private stack: number[] = [];
  private lines = 0;

  // add feeds line number `i` (0-based, in order).
  add(i: number, line: string): void {
    this.lines = i + 1;
    const m = groupMarker(line);
    if (m === null) return;
    if (m === 'end') {
      const g = this.stack.pop();
      if (g !== undefined) {
        this.groups[g]!.end = i;
        this.groups[g]!.open = false;
      }
      return;
    }
    this.stack.push(this.groups.length);
    this.groups.push({ start: i, end: i, title: m.start, open: true, depth: this.stack.length - 1 });
  }

  // result returns the groups, open ones running to the last line seen.
  result(): Group[] {
    for (const g of this.stack) this.groups[g]!.end = Math.max(this.groups[g]!.start, this.lines - 1);
    return this.groups;
  }
}

// findGroups scans a whole list of lines.
export function findGroups(lines: string[]): Group[] {
  const s = new GroupScanner();
  lines.forEach((l, i) => s.add(i, l));
  return s.result();
}

// RowMap maps visible rows to lines when some groups are collapsed: a collapsed
// group shows its ::group:: line and hides the lines after it up to its end.
export class RowMap {
  // hidden ranges [from, to] of lines, sorted, not overlapping.
  private hidden: Array<[number, number]>;
  private hiddenBefore: number[];
  readonly rows: number;

  constructor(lineCount: number, groups: Group[], collapsed: ReadonlySet<number>) {
    const ranges: Array<[number, number]> = [];
    for (const g of groups) {
      if (!collapsed.has(g.start) || g.end <= g.start) continue;
      const from = g.start + 1;
      const to = Math.min(g.end, lineCount - 1);
      const last = ranges[ranges.length - 1];
      if (last && from <= last[1]) continue; // nested inside a collapsed one
      if (from <= to) ranges.push([from, to]);
    }
    ranges.sort((a, b) => a[0] - b[0]);
    this.hidden = ranges;
    this.hiddenBefore = [];
    let total = 0;
    for (const [a, b] of ranges) {
      this.hiddenBefore.push(total);
      total += b - a + 1;
    }
    this.rows = lineCount - total;
  }

  // lineOf returns the line shown in row r.
  lineOf(r: number): number {
    let line = r;
    for (const [a, b] of this.hidden) {
      if (line >= a) line += b - a + 1;
      else break;
    }
    return line;
  }

  // rowOf returns the row showing line l, or of the collapsed group hiding it.
  rowOf(l: number): number {
    let hiddenSoFar = 0;
    for (let k = 0; k < this.hidden.length; k++) {
      const [a, b] = this.hidden[k]!;
      if (l < a) break;
      if (l <= b) return a - 1 - this.hiddenBefore[k]!;
      hiddenSoFar = this.hiddenBefore[k]! + (b - a + 1);
    }
    return l - hiddenSoFar;
  }
}
