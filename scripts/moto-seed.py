"""Seeds the AWS API emulator (moto server) for the register's tests: in each of the given
accounts (reached by assuming a role, as the sync does) and regions, a VPC, a cluster, a Fargate
task definition, two awsvpc tasks, and one of them stopped. Prints JSON: every task with its
account, region, cluster, status and private IP.

    python moto-seed.py ENDPOINT ACCOUNT[,ACCOUNT...] REGION[,REGION...]
"""
import json
import sys
import urllib.request

import boto3

endpoint, accounts, regions = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")

# Pin the task state machine: each DescribeTasks would otherwise move a task on.
req = urllib.request.Request(
    f"{endpoint}/moto-api/state-manager/set-transition",
    data=json.dumps({"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}).encode(),
    method="POST",
)
urllib.request.urlopen(req).read()

base = dict(endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
out = []
for account in accounts:
    creds = boto3.client("sts", region_name="us-east-1", **base).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/curtain-read", RoleSessionName="seed")["Credentials"]
    session = dict(endpoint_url=endpoint, aws_access_key_id=creds["AccessKeyId"],
                   aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    for region in regions:
        ec2 = boto3.client("ec2", region_name=region, **session)
        ecs = boto3.client("ecs", region_name=region, **session)
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
        cluster = ecs.create_cluster(clusterName=f"prod-{region}")["cluster"]["clusterArn"]
        ecs.register_task_definition(
            family="web", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "web", "image": "public.ecr.aws/nginx/nginx:1.27", "essential": True,
                                   "memory": 512, "cpu": 256}])
        ecs.create_service(
            cluster=cluster, serviceName="web", taskDefinition="web", desiredCount=0, launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}})
        tasks = ecs.run_task(
            cluster=cluster, taskDefinition="web", count=2, launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}})["tasks"]
        stopped = tasks[1]["taskArn"]
        ecs.stop_task(cluster=cluster, task=stopped, reason="seed")
        for t in tasks:
            ip = None
            for a in t.get("attachments", []):
                for d in a.get("details", []):
                    if d["name"] == "privateIPv4Address":
                        ip = d["value"]
            out.append({"account": account, "region": region, "cluster": cluster, "task_arn": t["taskArn"],
                        "ip": ip, "stopped": t["taskArn"] == stopped})
print(json.dumps(out))
