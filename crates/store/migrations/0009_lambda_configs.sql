-- An interface's subnet and security groups (a JSON array, sorted): Lambda shares one interface
-- among every function of that subnet and set of groups.
ALTER TABLE enis ADD COLUMN subnet_id TEXT;
ALTER TABLE enis ADD COLUMN security_groups TEXT;
-- Each Lambda function's VPC configurations over time: from CloudTrail's CreateFunction and
-- UpdateFunctionConfiguration (from the call on), and syncs (from when first seen so), until the
-- next configuration or DeleteFunction. Subnets and groups are JSON arrays, sorted; no subnets:
-- in no VPC.
CREATE TABLE lambda_configs (
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    function_name TEXT NOT NULL,
    function_arn TEXT,
    subnets TEXT NOT NULL,
    security_groups TEXT NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_to INTEGER,
    PRIMARY KEY (account_id, region, function_name, valid_from)
);
