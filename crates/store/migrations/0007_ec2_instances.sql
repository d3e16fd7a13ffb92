-- EC2 instances, in a cluster or not: what DescribeInstances (and CloudTrail's RunInstances and
-- TerminateInstances) said of each, and the states each was seen in, as spells: a spell runs from
-- the first time the instance was seen in a state to the last time, before another was seen.
CREATE TABLE ec2_instances (
    instance_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT,
    instance_type TEXT,
    launched_at INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE TABLE instance_states (
    instance_id TEXT NOT NULL,
    state TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (instance_id, first_seen)
);
