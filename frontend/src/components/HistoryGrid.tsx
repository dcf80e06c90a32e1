// HistoryGrid shows a collection's history: entities as rows (newest first), job
// names as columns, each cell the status of that job on that entity.
import { Link } from 'react-router';
import type { EntitySummary } from '../api/client';
import { skipCause, statusClass, statusLabel } from '../lib/jobLabel';

// entities carry latestJobs: the newest job of each name (a collection read with
// latestJobs=true).
export function HistoryGrid({ project, entities }: { project: string; entities: EntitySummary[] }) {
  const names: string[] = [];
  for (const e of entities) for (const j of e.latestJobs ?? []) if (!names.includes(j.name)) names.push(j.name);
  if (entities.length === 0) return null;
  return (
    <div className="grid-wrap">
      <table className="grid" aria-label="History">
        <thead>
          <tr>
            <th>Entity</th>
            {names.map((n) => (
              <th key={n} scope="col">
                <span className="vert">{n}</span>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {entities.map((e) => (
            <tr key={`${e.key}/${e.value}`}>
              <th scope="row">
                <Link className="mono" to={`/p/${encodeURIComponent(project)}/${encodeURIComponent(e.key)}/${encodeURIComponent(e.value)}`}>
                  {e.value.slice(0, 12)}
                </Link>
              </th>
              {names.map((n) => {
                const j = e.latestJobs?.find((x) => x.name === n);
                const said = j ? `${n} on ${e.value}: ${statusLabel(j)}${skipCause(j) ? ` (${skipCause(j)})` : ''}` : '';
                return (
                  <td key={n}>
                    {j ? <Link to={`/j/${j.id}`} className={`cell ${statusClass(j)}`} data-status={j.status} data-label={statusLabel(j)} title={said} aria-label={said} /> : null}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
