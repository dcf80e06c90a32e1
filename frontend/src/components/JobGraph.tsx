// JobGraph draws an entity's jobs as a graph: a column per depth of preceding
// jobs, nodes coloured by status, edges from each preceding job. On a narrow
// screen the depths become rows, so a chain of jobs reads downwards instead of
// running off the side; what is still wider than the screen scrolls.
import { useEffect, useState } from 'react';
import { useNavigate } from 'react-router';
import type { Job } from '../api/client';
import { skipCause, statusClass, statusLabel } from '../lib/jobLabel';

const W = 160;
const H = 34;
const GX = 48;
const GY = 12;
// Gap between the rows of the top-down layout, where the edges run.
const GV = 26;
const NARROW = '(max-width: 760px)';

export interface Layout {
  nodes: Array<{ job: Job; x: number; y: number }>;
  edges: Array<{ from: number; to: number }>;
  width: number;
  height: number;
}

// layout places each job one column right of its latest preceding job (or, with
// down, one row below it).
export function layout(jobs: Job[], down = false): Layout {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const depth = new Map<number, number>();
  const depthOf = (j: Job, seen: Set<number>): number => {
    const known = depth.get(j.id);
    if (known !== undefined) return known;
    if (seen.has(j.id)) return 0;
    seen.add(j.id);
    let d = 0;
    for (const p of j.precedingJobs) {
      const pj = byId.get(p);
      if (pj) d = Math.max(d, depthOf(pj, seen) + 1);
    }
    depth.set(j.id, d);
    return d;
  };
  const cols: Job[][] = [];
  for (const j of [...jobs].sort((a, b) => a.id - b.id)) {
    const d = depthOf(j, new Set());
    (cols[d] ??= []).push(j);
  }
  const nodes: Layout['nodes'] = [];
  const edges: Layout['edges'] = [];
  for (const j of jobs) for (const p of j.precedingJobs) if (byId.has(p)) edges.push({ from: p, to: j.id });
  const across = Math.max(1, ...cols.map((c) => c.length));
  const depths = Math.max(1, cols.length);
  if (down) {
    // Rows of at most two nodes fit a phone; a wider depth wraps onto more rows.
    const perRow = 2;
    let y = 0;
    for (const col of cols) {
      col.forEach((job, i) => nodes.push({ job, x: (i % perRow) * (W + GY), y: y + Math.floor(i / perRow) * (H + GY) }));
      y += Math.ceil(col.length / perRow) * (H + GY) - GY + GV;
    }
    return { nodes, edges, width: Math.min(across, perRow) * (W + GY) - GY, height: y - GV };
  }
  cols.forEach((col, c) => col.forEach((job, r) => nodes.push({ job, x: c * (W + GX), y: r * (H + GY) })));
  return { nodes, edges, width: depths * (W + GX) - GX, height: across * (H + GY) - GY };
}

// useNarrow follows whether the screen is phone-sized.
function useNarrow(): boolean {
  const [narrow, setNarrow] = useState(() => window.matchMedia(NARROW).matches);
  useEffect(() => {
    const m = window.matchMedia(NARROW);
    const f = () => setNarrow(m.matches);
    m.addEventListener('change', f);
    return () => m.removeEventListener('change', f);
  }, []);
  return narrow;
}

export function JobGraph({ jobs }: { jobs: Job[] }) {
  const navigate = useNavigate();
  const down = useNarrow();
  if (jobs.length === 0) return null;
  const l = layout(jobs, down);
  const at = new Map(l.nodes.map((n) => [n.job.id, n]));
  return (
    <figure className="graph">
      <svg viewBox={`-2 -2 ${l.width + 4} ${l.height + 4}`} width={l.width + 4} height={l.height + 4} role="group" aria-label="Job graph">
        {l.edges.map((e) => {
          const a = at.get(e.from)!;
          const b = at.get(e.to)!;
          if (down) {
            const x1 = a.x + W / 2;
            const y1 = a.y + H;
            const x2 = b.x + W / 2;
            const y2 = b.y;
            return <path key={`${e.from}-${e.to}`} className="edge" d={`M${x1},${y1} C${x1},${y1 + GV / 2} ${x2},${y2 - GV / 2} ${x2},${y2}`} />;
          }
          const x1 = a.x + W;
          const y1 = a.y + H / 2;
          const x2 = b.x;
          const y2 = b.y + H / 2;
          return <path key={`${e.from}-${e.to}`} className="edge" d={`M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}`} />;
        })}
        {l.nodes.map(({ job, x, y }) => (
          <a
            key={job.id}
            href={`/j/${job.id}`}
            onClick={(e) => {
              e.preventDefault();
              void navigate(`/j/${job.id}`);
            }}
            aria-label={`${job.name}: ${statusLabel(job)}${skipCause(job) ? ` (${skipCause(job)})` : ''}`}
          >
            <g className={`node ${statusClass(job)}`} data-job={job.id} data-status={job.status} data-label={statusLabel(job)} transform={`translate(${x},${y})`}>
              <title>{`${job.name} (#${job.id}): ${statusLabel(job)}${skipCause(job) ? `, ${skipCause(job)}` : ''}`}</title>
              <rect width={W} height={H} rx={5} />
              <text x={10} y={H / 2 + 4}>
                {job.name.length > 20 ? `${job.name.slice(0, 19)}…` : job.name}
              </text>
            </g>
          </a>
        ))}
      </svg>
    </figure>
  );
}
