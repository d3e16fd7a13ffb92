-- The tasks on a container instance: whois on a host's address looks them up, and without this
-- reads every task the register holds.
CREATE INDEX tasks_by_container_instance ON tasks (container_instance_arn);
