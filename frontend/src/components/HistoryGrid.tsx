// HistoryGrid shows a collection's history: entities as rows (newest first), job
// names as columns, each cell the status of that job on that entity.
import { Link } from 'react-router';
import type { Entity } from '../api/client';

export function HistoryGrid({ entities }: { entities: Entity[] }) {
  const names: string[] = [];
  for (const e of entities) for (const j of e.jobs) if (!names.includes(j.name)) names.push(j.name);
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
                <Link className="mono" to={`/p/${encodeURIComponent(e.project)}/${encodeURIComponent(e.key)}/${encodeURIComponent(e.value)}`}>
                  {e.value.slice(0, 12)}
                </Link>
              </th>
              {names.map((n) => {
                // The newest job of that name on the entity.
                const j = e.jobs.filter((x) => x.name === n).sort((a, b) => b.id - a.id)[0];
                return (
                  <td key={n}>
                    {j ? (
                      <Link to={`/j/${j.id}`} className={`cell st-${j.status}`} data-status={j.status} title={`${n} on ${e.value}: ${j.status}`} aria-label={`${n} on ${e.value}: ${j.status.replace('_', ' ')}`} />
                    ) : null}
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
