-- What EC2 says of an interface besides its description, to name its owner when it is not an
-- ECS task's: the interface type, who requested it, the instance it is attached to, and for a
-- Lambda interface the functions it serves (a JSON array).
ALTER TABLE enis ADD COLUMN interface_type TEXT;
ALTER TABLE enis ADD COLUMN requester_id TEXT;
ALTER TABLE enis ADD COLUMN instance_id TEXT;
ALTER TABLE enis ADD COLUMN lambda_functions TEXT;
