UPDATE collections c SET entity_count = c.entity_count + s.n
FROM (SELECT collection_id, sum(entity_count) AS n FROM collection_counts GROUP BY collection_id) s
WHERE c.id = s.collection_id;
DROP TABLE collection_counts;
CREATE TEMPORARY TABLE keys_summed AS
    SELECT project_id, kind, key, sum(value_count)::bigint AS value_count FROM keys GROUP BY project_id, kind, key;
DELETE FROM keys;
ALTER TABLE keys DROP CONSTRAINT keys_pkey;
ALTER TABLE keys DROP COLUMN shard;
INSERT INTO keys (project_id, kind, key, value_count) SELECT * FROM keys_summed;
ALTER TABLE keys ADD PRIMARY KEY (project_id, kind, key);
DROP TABLE keys_summed;
