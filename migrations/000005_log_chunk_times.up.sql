-- When each log chunk arrived, so a log viewer can show each line's time since
-- the job started. Existing chunks get the migration's time: nothing better is known.
ALTER TABLE log_chunks ADD COLUMN arrived_at timestamptz NOT NULL DEFAULT now();
