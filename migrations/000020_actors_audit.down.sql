DROP TABLE audit_log;
ALTER TABLE jobs
    DROP COLUMN submitted_by,
    DROP COLUMN cancelled_by,
    DROP COLUMN retried_by,
    DROP COLUMN approved_by;
