-- Every snapshot `curtain acquire ecs` took (or failed to take) of a task's container, as its
-- line of acquisition.jsonl says: whois shows them beside the task that held the address.
CREATE TABLE acquisitions (
    id INTEGER PRIMARY KEY,
    task_arn TEXT NOT NULL,
    container_name TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    method TEXT NOT NULL,
    transport TEXT NOT NULL,
    operator TEXT NOT NULL,
    archive TEXT,
    sha256 TEXT,
    verified INTEGER NOT NULL,
    error TEXT,
    -- The whole line of acquisition.jsonl.
    record TEXT NOT NULL
);
CREATE INDEX acquisitions_by_task ON acquisitions (task_arn);
