ALTER TABLE log_chunks DROP COLUMN IF EXISTS arrived_at;
