// artifactTree turns a job's artifact paths into the tree the job page shows (a
// directory artifact's files share its name as their first segment), and says
// how big a file is and how it may be shown.

export interface ArtifactFile {
  path: string;
  size: number;
  sha256: string;
  contentType: string;
  expiresAt: string | null;
}

export interface Folder<F extends ArtifactFile = ArtifactFile> {
  name: string; // its last segment ('' for the root)
  path: string; // its whole path ('' for the root)
  folders: Folder<F>[];
  files: F[];
  size: number; // of all the files below it
  count: number; // how many files are below it
}

// buildTree nests files by their slash-separated paths: folders first, then files,
// each sorted by name.
export function buildTree<F extends ArtifactFile>(files: readonly F[]): Folder<F> {
  const root: Folder<F> = { name: '', path: '', folders: [], files: [], size: 0, count: 0 };
  for (const f of files) {
    const segs = f.path.split('/').filter((s) => s !== '');
    let at = root;
    at.size += f.size;
    at.count++;
    for (const s of segs.slice(0, -1)) {
      let next = at.folders.find((d) => d.name === s);
      if (!next) {
        next = { name: s, path: at.path ? `${at.path}/${s}` : s, folders: [], files: [], size: 0, count: 0 };
        at.folders.push(next);
      }
      at = next;
      at.size += f.size;
      at.count++;
    }
    at.files.push(f);
  }
  const order = (d: Folder<F>) => {
    d.folders.sort((a, b) => a.name.localeCompare(b.name));
    d.files.sort((a, b) => a.path.localeCompare(b.path));
    d.folders.forEach(order);
  };
  order(root);
  return root;
}

// baseName is a path's last segment: the name a download is saved under.
export const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

const UNITS = ['KB', 'MB', 'GB', 'TB'];

// formatSize writes bytes as people read them: "512 B", "1.5 KB", "12 MB", "1.02 GB"
// (1 KB = 1024 B), with three significant digits at most.
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let v = bytes;
  let u = -1;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  // 1023.9 KB would round to "1024 KB": say "1.00 MB" instead.
  if (v >= 999.5 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const text = v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return `${text.replace(/\.0+$|(\.\d*?)0+$/, '$1')} ${UNITS[u]}`;
}

export type InlineKind = 'html' | 'image' | 'text';

// The images a browser shows in <img> (an SVG there runs no script).
const IMAGES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/svg+xml', 'image/bmp', 'image/x-icon', 'image/vnd.microsoft.icon']);
const TEXT_NAMES = /\.(txt|log|md|json|xml|csv|tsv|ya?ml|toml|ini|cfg|conf|go|ts|tsx|js|mjs|css|py|rb|rs|java|c|h|cc|cpp|sh|sql|diff|patch)$/i;

// inlineKind says how a file opens in the browser: an HTML report in a sandboxed
// frame, an image, or text; undefined: only as a download.
export function inlineKind(contentType: string, path: string): InlineKind | undefined {
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (type === 'text/html' || type === 'application/xhtml+xml') return 'html';
  if (IMAGES.has(type)) return 'image';
  if (type.startsWith('text/') || type === 'application/json' || type.endsWith('+json') || type === 'application/xml' || type.endsWith('+xml') || type === 'application/x-ndjson')
    return 'text';
  if ((type === 'application/octet-stream' || type === '') && TEXT_NAMES.test(path)) return 'text';
  return undefined;
}

// expired says whether a file's expiry has passed.
export const expired = (f: { expiresAt: string | null }, now: number = Date.now()): boolean => f.expiresAt !== null && new Date(f.expiresAt).getTime() <= now;

// shortSum is the start of a SHA-256, enough to tell files apart at a glance.
export const shortSum = (sha256: string): string => sha256.slice(0, 12);
