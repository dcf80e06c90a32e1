// audit.ts: the audit log of administrative actions (admins only), newest first,
// filtered by actor, action and project, a page at a time.
import { api, type Schemas } from './client';
import { answer, type Query } from './query';

export type AuditEntry = Schemas['AuditEntry'];

export interface AuditFilter {
  actor?: string;
  action?: string;
  project?: string;
  before?: number; // entries older than this id: the previous page's `next`
}

export const AUDIT_PAGE = 50;

export const auditQuery = ({ actor, action, project, before }: AuditFilter): Query<Schemas['AuditList']> => ({
  key: ['audit', actor ?? '', action ?? '', project ?? '', before ?? 0],
  fetch: (signal) =>
    answer(
      api.GET('/api/v1/audit', {
        params: {
          query: {
            limit: AUDIT_PAGE,
            ...(actor ? { actor } : {}),
            ...(action ? { action } : {}),
            ...(project ? { project } : {}),
            ...(before ? { before } : {}),
          },
        },
        signal,
      }),
    ),
});
