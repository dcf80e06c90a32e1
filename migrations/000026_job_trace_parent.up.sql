-- The W3C traceparent of the span that submitted a job (job.queued), when the
-- server exported traces: the job's later phases (claimed, running, finished)
-- join that trace. NULL when tracing was off.
ALTER TABLE jobs ADD COLUMN trace_parent text;
