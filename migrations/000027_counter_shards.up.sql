-- Counters every submission of a project bumps (a key's value count, a
-- collection's entity count) are spread over shards: a submission adds to one
-- shard picked at random, so concurrent submissions (webhook deliveries of one
-- repository) rarely wait for each other's commit on one row. A count is the
-- sum of its shards; collections.entity_count keeps what was counted before.
ALTER TABLE keys ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE keys DROP CONSTRAINT keys_pkey;
ALTER TABLE keys ADD PRIMARY KEY (project_id, kind, key, shard);

CREATE TABLE collection_counts (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    shard         smallint NOT NULL,
    entity_count  bigint NOT NULL,
    PRIMARY KEY (collection_id, shard)
);
