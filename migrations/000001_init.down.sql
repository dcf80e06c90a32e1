DROP TABLE IF EXISTS log_chunks, tokens, job_edges, jobs, tag_check_ins, runners,
    collection_entities, keys, collections, entities, projects, settings;
