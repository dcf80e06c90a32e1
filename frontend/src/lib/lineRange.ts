// LineRange is a selection of log lines, numbered from 1, start <= end.
export interface LineRange {
  start: number;
  end: number;
}

// parseLineHash reads "#L120" or "#L120-L140" (either order); anything else is null.
export function parseLineHash(hash: string): LineRange | null {
  const m = /^#?L(\d{1,9})(?:-L?(\d{1,9}))?$/.exec(hash);
  if (!m) return null;
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || b < 1) return null;
  return { start: Math.min(a, b), end: Math.max(a, b) };
}

// formatLineHash writes a range as "#L120" or "#L120-L140".
export function formatLineHash(r: LineRange): string {
  return r.start === r.end ? `#L${r.start}` : `#L${r.start}-L${r.end}`;
}

// selectLine is what a click on line `line` selects: the line alone, or with shift
// held, the range from the current selection's anchor (its start) to the line.
export function selectLine(current: LineRange | null, line: number, extend: boolean): LineRange {
  if (!extend || !current) return { start: line, end: line };
  const anchor = current.start;
  return { start: Math.min(anchor, line), end: Math.max(anchor, line) };
}

// inRange says whether line is within r.
export function inRange(r: LineRange | null, line: number): boolean {
  return r !== null && line >= r.start && line <= r.end;
}
