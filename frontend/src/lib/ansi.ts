// ansi.ts turns one line of terminal output into styled spans: SGR colours (16, 256
// and 24-bit), bold, italic, underline, dim and inverse; OSC 8 hyperlinks when they
// point to http(s); `\r` and backspace overwrite as a terminal would. Every other
// escape sequence and control character is dropped. The result is plain data: the
// viewer builds text nodes from it, so no byte of a log ever becomes HTML.
//
// Style does not carry from one line to the next, so any line can be drawn alone
// (the viewer only parses the lines on screen).

export interface Style {
  fg?: string;
  bg?: string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
}

export interface Span {
  text: string;
  style?: Style;
  href?: string;
}

// MAX_LINE_CHARS bounds the characters drawn for one line, so a line of megabytes
// (or an escape bomb) cannot freeze the page. The rest is summarised.
export const MAX_LINE_CHARS = 10_000;

const ESC = 0x1b;

// color16 names the 16 base colours by CSS variable, so each theme picks its own.
function color16(n: number): string {
  return `var(--ansi-${n})`;
}

export function color256(n: number): string {
  if (n < 16) return color16(n);
  if (n < 232) {
    const i = n - 16;
    const steps = [0, 95, 135, 175, 215, 255];
    return `rgb(${steps[Math.floor(i / 36)]},${steps[Math.floor(i / 6) % 6]},${steps[i % 6]})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

function clampByte(n: number | undefined): number {
  if (n === undefined || !Number.isFinite(n)) return 0;
  return Math.max(0, Math.min(255, n | 0));
}

// applySGR returns the style after the SGR parameters `params` (empty means reset).
export function applySGR(style: Style, params: number[]): Style {
  let s: Style = { ...style };
  if (params.length === 0) return {};
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (p === 0) s = {};
    else if (p === 1) s.bold = true;
    else if (p === 2) s.dim = true;
    else if (p === 3) s.italic = true;
    else if (p === 4) s.underline = true;
    else if (p === 7) s.inverse = true;
    else if (p === 22) {
      delete s.bold;
      delete s.dim;
    } else if (p === 23) delete s.italic;
    else if (p === 24) delete s.underline;
    else if (p === 27) delete s.inverse;
    else if (p >= 30 && p <= 37) s.fg = color16(p - 30);
    else if (p >= 90 && p <= 97) s.fg = color16(p - 90 + 8);
    else if (p === 39) delete s.fg;
    else if (p >= 40 && p <= 47) s.bg = color16(p - 40);
    else if (p >= 100 && p <= 107) s.bg = color16(p - 100 + 8);
    else if (p === 49) delete s.bg;
    else if (p === 38 || p === 48) {
      const mode = params[i + 1];
      let c: string | undefined;
      if (mode === 5) {
        c = color256(clampByte(params[i + 2]));
        i += 2;
      } else if (mode === 2) {
        c = `rgb(${clampByte(params[i + 2])},${clampByte(params[i + 3])},${clampByte(params[i + 4])})`;
        i += 4;
      } else {
        break; // malformed: ignore the rest, as terminals do
      }
      if (p === 38) s.fg = c;
      else s.bg = c;
    }
  }
  return s;
}

// safeHref returns the URL of an OSC 8 link when it is http or https, else undefined.
export function safeHref(uri: string): string | undefined {
  const u = uri.trim();
  if (!/^https?:\/\//i.test(u)) return undefined;
  try {
    const parsed = new URL(u);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
    return parsed.href;
  } catch {
    return undefined;
  }
}

interface Cell {
  ch: string;
  style: Style | undefined;
  href: string | undefined;
}

// parseLine parses one line (without its `\n`) into spans.
export function parseLine(line: string): Span[] {
  if (line.endsWith('\r')) line = line.slice(0, -1);
  let truncated = 0;
  // A line this long is never read whole by a person; bound the work first.
  if (line.length > MAX_LINE_CHARS * 4) {
    truncated = line.length - MAX_LINE_CHARS * 4;
    line = line.slice(0, MAX_LINE_CHARS * 4);
  }
  const cells: Cell[] = [];
  let col = 0;
  let style: Style | undefined;
  let href: string | undefined;
  const n = line.length;
  let i = 0;
  while (i < n) {
    const c = line.charCodeAt(i);
    if (c === ESC || c === 0x9b) {
      let j = c === ESC ? i + 1 : i;
      const kind = c === 0x9b ? '[' : line[j];
      if (kind === '[') {
        j++;
        const start = j;
        while (j < n && line.charCodeAt(j) >= 0x30 && line.charCodeAt(j) <= 0x3f) j++;
        const paramText = line.slice(start, j);
        while (j < n && line.charCodeAt(j) >= 0x20 && line.charCodeAt(j) <= 0x2f) j++;
        if (j >= n) break; // unterminated: drop the rest
        const final = line[j];
        if (final === 'm' && !/[<=>?]/.test(paramText)) {
          const params = paramText === '' ? [] : paramText.split(/[;:]/, 64).map((x) => (x === '' ? 0 : Number(x)));
          const next = applySGR(style ?? {}, params);
          style = Object.keys(next).length ? next : undefined;
        }
        i = j + 1;
        continue;
      }
      if (kind === ']' || kind === 'P' || kind === '_' || kind === '^' || kind === 'X') {
        // OSC / DCS / APC / PM / SOS: a string up to BEL or ST.
        j++;
        const start = j;
        while (j < n && line.charCodeAt(j) !== 0x07 && !(line.charCodeAt(j) === ESC && line[j + 1] === '\\')) j++;
        const body = line.slice(start, j);
        i = j >= n ? n : line.charCodeAt(j) === 0x07 ? j + 1 : j + 2;
        if (kind === ']' && body.startsWith('8;')) {
          const semi = body.indexOf(';', 2);
          const uri = semi < 0 ? '' : body.slice(semi + 1);
          href = uri === '' ? undefined : safeHref(uri);
        }
        continue;
      }
      if (kind === undefined) break;
      // Two- or three-character escapes such as ESC ( B or ESC =.
      const k = kind.charCodeAt(0);
      i = k >= 0x20 && k <= 0x2f ? j + 2 : j + 1;
      continue;
    }
    if (c === 0x0d) {
      col = 0;
      i++;
      continue;
    }
    if (c === 0x08) {
      if (col > 0) col--;
      i++;
      continue;
    }
    if (c === 0x09) {
      const to = (Math.floor(col / 8) + 1) * 8;
      while (col < to) {
        if (col >= MAX_LINE_CHARS) break;
        cells[col++] = { ch: ' ', style, href };
      }
      i++;
      continue;
    }
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) {
      i++;
      continue;
    }
    // A surrogate pair is one cell.
    let ch = line[i]!;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      ch = line.slice(i, i + 2);
      i++;
    }
    i++;
    if (col >= MAX_LINE_CHARS) {
      truncated++;
      continue;
    }
    cells[col++] = { ch, style, href };
  }
  const spans: Span[] = [];
  let cur: Span | undefined;
  for (let k = 0; k < cells.length; k++) {
    const cell = cells[k] ?? { ch: ' ', style: undefined, href: undefined };
    if (cur && cur.style === cell.style && cur.href === cell.href) {
      cur.text += cell.ch;
    } else {
      cur = { text: cell.ch };
      if (cell.style) cur.style = cell.style;
      if (cell.href) cur.href = cell.href;
      spans.push(cur);
    }
  }
  if (truncated > 0) spans.push({ text: ` … (${truncated} more characters)`, style: { dim: true } });
  return spans;
}

// stripAnsi returns the text a person sees, without styles.
export function stripAnsi(line: string): string {
  return parseLine(line)
    .map((s) => s.text)
    .join('');
}
