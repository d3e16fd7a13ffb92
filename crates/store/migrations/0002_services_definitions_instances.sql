-- Services, task definitions (what a task runs and its network mode), and container instances,
-- whose address bridge and host mode tasks hold.
CREATE TABLE services (
    service_arn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    cluster_arn TEXT NOT NULL,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    task_definition_arn TEXT,
    launch_type TEXT,
    desired_count INTEGER,
    created_at INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE TABLE task_definitions (
    task_definition_arn TEXT PRIMARY KEY,
    family TEXT,
    revision INTEGER,
    network_mode TEXT,
    -- [{"name", "image", "command", "entry_point"}]
    containers TEXT NOT NULL,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    first_seen INTEGER NOT NULL
);
CREATE TABLE container_instances (
    container_instance_arn TEXT PRIMARY KEY,
    cluster_arn TEXT NOT NULL,
    ec2_instance_id TEXT,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE TABLE instance_ips (
    container_instance_arn TEXT NOT NULL,
    ip TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (container_instance_arn, ip)
);
CREATE INDEX instance_ips_by_ip ON instance_ips (ip);
