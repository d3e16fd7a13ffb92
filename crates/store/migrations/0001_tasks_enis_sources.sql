-- Tasks, their containers and network attachments, the interfaces (ENIs) those attachments
-- got and the addresses the interfaces held, and every source that said so.
CREATE TABLE tasks (
    task_arn TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    cluster_arn TEXT,
    grp TEXT,
    task_definition_arn TEXT,
    launch_type TEXT,
    availability_zone TEXT,
    last_status TEXT,
    created_at INTEGER,
    started_at INTEGER,
    stopped_at INTEGER,
    container_instance_arn TEXT,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE TABLE containers (
    task_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    image TEXT,
    image_digest TEXT,
    runtime_id TEXT,
    last_status TEXT,
    PRIMARY KEY (task_arn, name)
);
CREATE TABLE attachments (
    attachment_id TEXT PRIMARY KEY,
    task_arn TEXT,
    eni_id TEXT
);
CREATE TABLE enis (
    eni_id TEXT PRIMARY KEY,
    attachment_id TEXT,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    description TEXT,
    created_at INTEGER,
    deleted_at INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE TABLE eni_ips (
    eni_id TEXT NOT NULL,
    ip TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (eni_id, ip)
);
CREATE INDEX eni_ips_by_ip ON eni_ips (ip);
-- Every source that said something about a task or an ENI.
CREATE TABLE sources (
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (subject, kind, id)
);
