// topics.ts spells every topic of the event stream (GET /api/v1/events), once:
// the pages and the log view subscribe with these, never with strings of their own.
export const topics = {
  project: (slug: string) => `project:${slug}`,
  entity: (project: string, key: string, val: string) => `entity:${project}/${key}/${val}`,
  collection: (project: string, key: string, val: string) => `collection:${project}/${key}/${val}`,
  job: (id: number) => `job:${id}`,
  log: (id: number) => `log:${id}`,
  queue: 'queue',
  runners: 'runners',
} as const;
