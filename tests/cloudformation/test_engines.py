"""ProcessingEngine = glue | emr | emr-serverless: what each rendering of the template deploys.

Each test renders the template for one parameter set (`template_render.render`, i.e. the
conditions resolved as CloudFormation resolves them) and checks the rendered resources,
and the IAM policies with the small simulator in policy_sim.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from policy_sim import ACCOUNT, StackNames, actions_of, allowed

from stockpipe.aws.template_render import minified, render
from stockpipe.errors import ConfigError

ARTIFACTS = f"stockpipe-artifacts-{ACCOUNT}-us-east-1"
SUBNET = "subnet-0123456789abcdef0"
BUCKET = f"stockpipe-dev-{ACCOUNT}-us-east-1"
LAKE = f"arn:aws:s3:::{BUCKET}"
STREAM_ARN = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/stockpipe-dev-bars"
PROCESSORS = {"AWS::Glue::Job", "AWS::EMR::Cluster", "AWS::EMRServerless::Application"}
ENGINE_PARAMS = {
    "glue": {"ProcessingEngine": "glue"},
    "emr": {"ProcessingEngine": "emr", "EmrSubnetId": SUBNET},
    "emr-serverless": {"ProcessingEngine": "emr-serverless"},
}


def rendered(template: dict[str, Any], engine: str, **extra: str) -> dict[str, Any]:
    return render(template, {**ENGINE_PARAMS[engine], "ArtifactsBucket": ARTIFACTS, **extra})


def _types(doc: dict[str, Any]) -> dict[str, str]:
    return {k: v["Type"] for k, v in doc["Resources"].items()}


# ------------------------------------------------------------------ one processor per value


@pytest.mark.parametrize(
    ("engine", "processor", "absent"),
    [
        ("glue", "GlueJob", {"EmrServiceRole", "EmrInstanceRole", "EmrServerlessJobRole"}),
        ("emr", "EmrCluster", {"GlueJobRole", "GlueRestartTrigger", "EmrServerlessJobRole"}),
        (
            "emr-serverless",
            "EmrServerlessApplication",
            {"GlueJobRole", "EmrServiceRole", "EmrInstanceProfile"},
        ),
    ],
)
def test_exactly_one_processor(template, engine, processor, absent):  # type: ignore[no-untyped-def]
    doc = rendered(template, engine)
    processors = [k for k, t in _types(doc).items() if t in PROCESSORS]
    assert processors == [processor]
    assert not absent & set(doc["Resources"])
    # The shared parts stay whatever the engine: lake, stream, catalog, Athena, alarms.
    assert {"DataBucket", "Stream", "GlueDatabase", "AthenaWorkGroup", "ProcessingLagAlarm"} <= set(
        doc["Resources"]
    )
    assert doc["Outputs"]["ProcessingEngine"]["Value"] == {"Ref": "ProcessingEngine"}
    # No condition survives the rendering, and nothing refers to a resource that is gone.
    text = json.dumps(doc)
    assert "Fn::If" not in text and "Conditions" not in doc
    for section in ("Resources", "Outputs"):
        assert not [k for k, v in doc[section].items() if "Condition" in v]
    for name in re.findall(r'"Ref": "([A-Za-z0-9]+)"', text):
        assert name in doc["Resources"] or name in doc["Parameters"], name


def test_glue_is_the_default_engine(template):  # type: ignore[no-untyped-def]
    assert template["Parameters"]["ProcessingEngine"]["Default"] == "glue"
    assert template["Parameters"]["ProcessingEngine"]["AllowedValues"] == [
        "glue",
        "emr",
        "emr-serverless",
    ]
    doc = render(template, {"ArtifactsBucket": ARTIFACTS})
    assert [k for k, t in _types(doc).items() if t in PROCESSORS] == ["GlueJob"]


def test_render_rejects_unknown_parameters(template):  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="ProcessingEngines"):
        render(template, {"ProcessingEngines": "emr"})


def test_emr_needs_a_subnet_rule(template):  # type: ignore[no-untyped-def]
    (assertion,) = template["Rules"]["EmrNeedsSubnet"]["Assertions"]
    assert template["Rules"]["EmrNeedsSubnet"]["RuleCondition"] == {
        "Fn::Equals": [{"Ref": "ProcessingEngine"}, "emr"]
    }
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "EmrSubnetId"}, ""]}]}


# ------------------------------------------------------------------ EMR cluster


def test_emr_fleets_are_spot_by_default(template):  # type: ignore[no-untyped-def]
    doc = rendered(template, "emr")
    names = StackNames(doc)
    props = names.resolve(doc["Resources"]["EmrCluster"]["Properties"])
    primary = props["Instances"]["MasterInstanceFleet"]
    assert primary["TargetOnDemandCapacity"] == 1
    assert "TargetSpotCapacity" not in primary
    core = props["Instances"]["CoreInstanceFleet"]
    assert (core["TargetSpotCapacity"], core["TargetOnDemandCapacity"]) == ("2", "0")
    spot = core["LaunchSpecifications"]["SpotSpecification"]
    assert spot == {
        "AllocationStrategy": "price-capacity-optimized",
        "TimeoutAction": "SWITCH_TO_ON_DEMAND",
        "TimeoutDurationMinutes": 10,
    }
    types = [c["InstanceType"] for c in core["InstanceTypeConfigs"]]
    assert types == ["m5.xlarge", "m5a.xlarge", "m6i.xlarge"]
    assert props["Instances"]["Ec2SubnetId"] == SUBNET
    assert props["Instances"]["KeepJobFlowAliveWhenNoSteps"] is True
    assert props["AutoTerminationPolicy"] == {"IdleTimeout": "3600"}
    assert re.fullmatch(r"emr-7\.\d+\.\d+", props["ReleaseLabel"])
    assert int(props["ReleaseLabel"].split(".")[1]) >= 1  # 7.1+ ships the Kinesis connector
    assert props["Applications"] == [{"Name": "Spark"}]
    assert props["LogUri"] == f"s3://{BUCKET}/logs/emr/"
    tags = {t["Key"]: t["Value"] for t in props["Tags"]}
    assert tags["for-use-with-amazon-emr-managed-policies"] == "true"
    (bootstrap,) = props["BootstrapActions"]
    assert bootstrap["ScriptBootstrapAction"]["Path"] == f"s3://{ARTIFACTS}/glue/emr-bootstrap.sh"
    env = props["Configurations"][0]["Configurations"][0]["ConfigurationProperties"]
    assert env == {"PYSPARK_PYTHON": "/usr/bin/python3.11"}


def test_emr_bootstrap_gets_the_wheel_only_when_there_is_one(template):  # type: ignore[no-untyped-def]
    wheel = "glue/stockpipe-0.1.0-py3-none-any.whl"
    with_wheel = rendered(template, "emr", GlueWheelKey=wheel)
    action = StackNames(with_wheel).resolve(
        with_wheel["Resources"]["EmrCluster"]["Properties"]["BootstrapActions"][0]
    )
    assert action["ScriptBootstrapAction"]["Args"] == [f"s3://{ARTIFACTS}/{wheel}"]
    without = rendered(template, "emr")
    action = without["Resources"]["EmrCluster"]["Properties"]["BootstrapActions"][0]
    assert "Args" not in action["ScriptBootstrapAction"]


def test_emr_serverless_application_is_capped_and_stops_when_idle(template):  # type: ignore[no-untyped-def]
    doc = rendered(template, "emr-serverless")
    props = StackNames(doc).resolve(doc["Resources"]["EmrServerlessApplication"]["Properties"])
    assert props["Type"] == "Spark"
    assert props["MaximumCapacity"] == {"Cpu": "8 vCPU", "Memory": "32 GB"}
    assert props["AutoStopConfiguration"] == {"Enabled": True, "IdleTimeoutMinutes": "15"}
    assert props["AutoStartConfiguration"] == {"Enabled": True}
    assert props["ReleaseLabel"] == doc["Parameters"]["EmrReleaseLabel"]["Default"]
    assert "ImageConfiguration" not in props
    custom = rendered(template, "emr-serverless", EmrServerlessImageUri="1.dkr.ecr/x:1")
    image = custom["Resources"]["EmrServerlessApplication"]["Properties"]["ImageConfiguration"]
    assert StackNames(custom).resolve(image) == {"ImageUri": "1.dkr.ecr/x:1"}


@pytest.mark.parametrize("engine", ["emr", "emr-serverless"])
def test_spark_job_arguments_are_options_the_job_accepts(template, engine):  # type: ignore[no-untyped-def]
    from stockpipe.spark.job import parser

    doc = rendered(template, engine)
    names = StackNames(doc)
    args = json.loads(names.resolve(doc["Outputs"]["SparkJobArguments"]["Value"]))
    ns = parser().parse_args(args)
    assert ns.source == "kinesis"
    assert ns.stream_name == "stockpipe-dev-bars"
    assert ns.region == "us-east-1"
    assert ns.out == f"s3://{BUCKET}"
    assert ns.checkpoint == f"s3://{BUCKET}/_checkpoints/emr-process-bars/"
    assert ns.interval_seconds == 60
    assert names.resolve(doc["Outputs"]["SparkEntryPoint"]["Value"]) == (
        f"s3://{ARTIFACTS}/glue/process_bars.py"
    )


# ------------------------------------------------------------------ Glue job keeps running


def test_glue_job_has_timeout_window_retries_and_a_restart(template):  # type: ignore[no-untyped-def]
    params = template["Parameters"]
    assert params["GlueVersion"]["AllowedValues"] == ["5.0"]
    assert params["GlueTimeoutMinutes"]["Default"] == 10080  # Glue's maximum: 7 days
    assert params["GlueTimeoutMinutes"]["MaxValue"] == 10080
    window = params["GlueMaintenanceWindow"]
    # The Glue API's pattern for MaintenanceWindow (day:hour, UTC).
    glue_api = re.compile(r"^(Sun|Mon|Tue|Wed|Thu|Fri|Sat):([01]?[0-9]|2[0-3])$")
    assert glue_api.match(window["Default"])
    assert not re.match(window["AllowedPattern"], "Sunday:3")
    assert not re.match(window["AllowedPattern"], "Sun:24")
    doc = rendered(template, "glue")
    job = StackNames(doc).resolve(doc["Resources"]["GlueJob"]["Properties"])
    assert (job["Timeout"], job["MaintenanceWindow"], job["MaxRetries"]) == ("10080", "Sun:3", "3")
    trigger = doc["Resources"]["GlueRestartTrigger"]["Properties"]
    assert trigger["Type"] == "CONDITIONAL" and trigger["StartOnCreation"] is True
    assert trigger["Predicate"]["Conditions"] == [
        {"JobName": {"Ref": "GlueJob"}, "LogicalOperator": "EQUALS", "State": "TIMEOUT"}
    ]
    assert trigger["Actions"] == [{"JobName": {"Ref": "GlueJob"}}]


@pytest.mark.parametrize(
    ("engine", "rule", "source", "alarming", "deliberate"),
    [
        ("glue", "GlueJobFailureRule", "aws.glue", {"FAILED", "TIMEOUT", "ERROR"}, "STOPPED"),
        ("emr", "EmrJobFailureRule", "aws.emr", {"FAILED", "TERMINATED_WITH_ERRORS"}, "CANCELLED"),
        ("emr-serverless", "EmrServerlessJobFailureRule", "aws.emr-serverless", {"FAILED"}, "CANCELLED"),
    ],
)  # fmt: skip
def test_state_rule_alarms_on_failures_not_on_a_deliberate_stop(  # type: ignore[no-untyped-def]
    template, engine, rule, source, alarming, deliberate
):
    doc = rendered(template, engine)
    rules = [k for k, t in _types(doc).items() if t == "AWS::Events::Rule"]
    assert rules == [rule]
    pattern = doc["Resources"][rule]["Properties"]["EventPattern"]
    assert pattern["source"] == [source]
    assert alarming <= set(pattern["detail"]["state"])
    assert deliberate not in pattern["detail"]["state"]
    assert doc["Resources"][rule]["Properties"]["Targets"][0]["Arn"] == {"Ref": "AlarmTopic"}


# ------------------------------------------------------------------ names per environment


def test_database_name_follows_the_environment(template):  # type: ignore[no-untyped-def]
    def db(**params: str) -> str:
        doc = render(template, {"ArtifactsBucket": ARTIFACTS, **params})
        return StackNames(doc).refs["GlueDatabase"]

    assert db() == "stockpipe_dev"
    assert db(EnvironmentName="prod-eu") == "stockpipe_prod_eu"
    assert db(EnvironmentName="prod-eu", DatabaseName="lake") == "lake"


@pytest.mark.parametrize("engine", ["glue", "emr", "emr-serverless"])
def test_iam_names_carry_environment_and_region(template, engine):  # type: ignore[no-untyped-def]
    def iam_names(region: str) -> set[str]:
        doc = rendered(template, engine, EnvironmentName="a-twenty-char-envnam")
        names = StackNames(doc, region=region)
        out = set()
        for res in doc["Resources"].values():
            prop = {
                "AWS::IAM::Role": "RoleName",
                "AWS::IAM::InstanceProfile": "InstanceProfileName",
                "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
            }.get(res["Type"])
            if prop:
                out.add(names.resolve(res["Properties"][prop]))
        return out

    east, south = iam_names("us-east-1"), iam_names("ap-southeast-2")
    assert east and not east & south  # one environment name in two regions: no collision
    for name in east | south:
        assert "a-twenty-char-envnam" in name
        assert len(name) <= 64, name  # IAM's limit for role and instance profile names


# ------------------------------------------------------------------ IAM, simulated


def _role(template: dict[str, Any], engine: str, role_id: str) -> list[dict[str, Any]]:
    doc = rendered(template, engine)
    return StackNames(doc).statements_of_role(role_id)


SPARK_NEEDS = [
    ("kinesis:DescribeStreamSummary", STREAM_ARN, {}),
    ("kinesis:ListShards", STREAM_ARN, {}),
    ("kinesis:GetShardIterator", STREAM_ARN, {}),
    ("kinesis:GetRecords", STREAM_ARN, {}),
    ("s3:ListBucket", LAKE, {"s3:prefix": "processed-data/bars/"}),
    ("s3:ListBucket", LAKE, {"s3:prefix": "_checkpoints/emr-process-bars/offsets/"}),
    ("s3:ListBucket", LAKE, {"s3:prefix": "raw-data/dt=2026-12-01/"}),
    ("s3:ListBucket", LAKE, {"s3:prefix": "processed-data"}),
    ("s3:GetObject", f"{LAKE}/processed-data", {}),
    ("s3:GetObject", f"{LAKE}/_checkpoints", {}),
    ("s3:GetObject", f"{LAKE}/raw-data/dt=2026-12-01/hour=14/shardId-0-1.jsonl", {}),
    ("s3:GetObject", f"{LAKE}/processed-data/bars/dt=2026-12-01/part-0.parquet", {}),
    ("s3:PutObject", f"{LAKE}/processed-data/bars/dt=2026-12-01/part-0.parquet", {}),
    ("s3:DeleteObject", f"{LAKE}/processed-data/daily/dt=2026-12-01/old.parquet", {}),
    ("s3:PutObject", f"{LAKE}/quarantine/dt=2026-12-01/part-0.parquet", {}),
    ("s3:PutObject", f"{LAKE}/_checkpoints/emr-process-bars/offsets/0", {}),
    ("s3:PutObject", f"{LAKE}/_state/processing/series.json", {}),
    ("s3:AbortMultipartUpload", f"{LAKE}/processed-data/bars/dt=2026-12-01/part-0.parquet", {}),
    ("s3:PutObject", f"{LAKE}/logs/emr/j-1ABC/node/i-1/applications/spark/stderr.gz", {}),
    ("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/glue/process_bars.py", {}),
    ("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/glue/stockpipe-0.1.0-py3-none-any.whl", {}),
    ("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/glue/emr-bootstrap.sh", {}),
    ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "StockPipe"}),
]
SPARK_MUST_NOT = [
    ("kinesis:PutRecords", STREAM_ARN, {}),
    ("kinesis:GetRecords", f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/other", {}),
    ("s3:PutObject", f"{LAKE}/raw-data/dt=2026-12-01/hour=14/x.jsonl", {}),
    ("s3:DeleteObject", f"{LAKE}/raw-data/dt=2026-12-01/hour=14/x.jsonl", {}),
    ("s3:GetObject", f"{LAKE}/athena-results/q.csv", {}),
    ("s3:DeleteObject", f"{LAKE}/logs/emr/j-1ABC/x.gz", {}),
    ("s3:ListBucket", LAKE, {"s3:prefix": ""}),
    ("s3:ListBucket", LAKE, {"s3:prefix": "athena-results/"}),
    ("s3:ListBucket", LAKE, {}),
    ("s3:GetObject", "arn:aws:s3:::someone-elses-bucket/x", {}),
    ("s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/glue/process_bars.py", {}),
    ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/EMR"}),
    ("glue:GetTable", f"arn:aws:glue:us-east-1:{ACCOUNT}:table/stockpipe_dev/bars", {}),
]
SPARK_ACTIONS = {
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:ListShards",
    "kinesis:GetShardIterator",
    "kinesis:GetRecords",
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "cloudwatch:PutMetricData",
}


@pytest.mark.parametrize(
    ("engine", "role_id"), [("emr", "EmrInstanceRole"), ("emr-serverless", "EmrServerlessJobRole")]
)
def test_spark_role_grants_what_the_job_needs_and_no_more(template, engine, role_id):  # type: ignore[no-untyped-def]
    statements = _role(template, engine, role_id)
    for action, resource, context in SPARK_NEEDS:
        assert allowed(statements, action, resource, context), (action, resource, context)
    for action, resource, context in SPARK_MUST_NOT:
        assert not allowed(statements, action, resource, context), (action, resource, context)
    assert actions_of(statements) == SPARK_ACTIONS


def test_spark_roles_trust_only_their_service(template):  # type: ignore[no-untyped-def]
    emr = rendered(template, "emr")["Resources"]
    trust = emr["EmrInstanceRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "ec2.amazonaws.com"}]
    assert emr["EmrInstanceProfile"]["Properties"]["Roles"] == [{"Ref": "EmrInstanceRole"}]
    assert emr["EmrCluster"]["Properties"]["JobFlowRole"] == {"Ref": "EmrInstanceProfile"}
    serverless = rendered(template, "emr-serverless")["Resources"]
    trust = serverless["EmrServerlessJobRole"]["Properties"]["AssumeRolePolicyDocument"]
    (stmt,) = trust["Statement"]
    assert stmt["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    assert stmt["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_emr_service_role_may_pass_only_the_instance_role_to_ec2(template):  # type: ignore[no-untyped-def]
    doc = rendered(template, "emr")
    names = StackNames(doc)
    statements = names.statements_of_role("EmrServiceRole")
    instance_role = names.refs["EmrInstanceRole.Arn"]
    assert allowed(
        statements, "iam:PassRole", instance_role, {"iam:PassedToService": "ec2.amazonaws.com"}
    )
    assert not allowed(
        statements, "iam:PassRole", instance_role, {"iam:PassedToService": "lambda.amazonaws.com"}
    )
    other = f"arn:aws:iam::{ACCOUNT}:role/admin"
    assert not allowed(
        statements, "iam:PassRole", other, {"iam:PassedToService": "ec2.amazonaws.com"}
    )
    assert actions_of(statements) == {"iam:PassRole"}  # the rest is AmazonEMRServicePolicy_v2


GLUE_NEEDS = [
    ("kinesis:GetRecords", STREAM_ARN, {}),
    # Hadoop's existence check on the bare prefix key (403 instead of 404 without it).
    ("s3:GetObject", f"{LAKE}/raw-data", {}),
    ("s3:GetObject", f"{LAKE}/processed-data", {}),
    ("s3:ListBucket", LAKE, {"s3:prefix": "raw-data"}),
    ("s3:ListBucket", LAKE, {"s3:prefix": "raw-data/dt=2026-12-01/"}),
    ("s3:PutObject", f"{LAKE}/processed-data/bars/dt=2026-12-01/part-0.parquet", {}),
    ("s3:PutObject", f"{LAKE}/_checkpoints/glue-process-bars/offsets/0", {}),
    ("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/glue/process_bars.py", {}),
    ("glue:GetTable", f"arn:aws:glue:us-east-1:{ACCOUNT}:table/stockpipe_dev/bars", {}),
    ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "StockPipe"}),
]
GLUE_MUST_NOT = [
    ("kinesis:PutRecord", STREAM_ARN, {}),
    ("s3:PutObject", f"{LAKE}/raw-data", {}),
    ("s3:GetObject", f"{LAKE}/athena-results/q.csv", {}),
    ("glue:GetTable", f"arn:aws:glue:us-east-1:{ACCOUNT}:table/other_db/bars", {}),
    ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/Kinesis"}),
]


def test_glue_role_grants_what_the_job_needs(template):  # type: ignore[no-untyped-def]
    statements = _role(template, "glue", "GlueJobRole")
    for action, resource, context in GLUE_NEEDS:
        assert allowed(statements, action, resource, context), (action, resource, context)
    for action, resource, context in GLUE_MUST_NOT:
        assert not allowed(statements, action, resource, context), (action, resource, context)


def test_analyst_can_browse_from_odbc_but_only_in_the_stack_workgroup(template):  # type: ignore[no-untyped-def]
    doc = rendered(template, "glue")
    names = StackNames(doc)
    statements = names.resolve(doc["Resources"]["AnalystPolicy"]["Properties"]["PolicyDocument"])[
        "Statement"
    ]
    catalog = f"arn:aws:athena:us-east-1:{ACCOUNT}:datacatalog/AwsDataCatalog"
    workgroup = f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/stockpipe-dev"
    database = f"arn:aws:glue:us-east-1:{ACCOUNT}:database/stockpipe_dev"
    # What the Athena ODBC driver calls while Power BI's navigator lists catalogs, databases
    # and tables, then runs and streams a query (actions of AWSQuicksightAthenaAccess).
    browse = [
        ("athena:ListDataCatalogs", "*"),
        ("athena:ListWorkGroups", "*"),
        ("athena:GetDataCatalog", catalog),
        ("athena:ListDatabases", catalog),
        ("athena:GetDatabase", catalog),
        ("athena:ListTableMetadata", catalog),
        ("athena:GetTableMetadata", catalog),
        ("athena:GetWorkGroup", workgroup),
        ("athena:StartQueryExecution", workgroup),
        ("athena:GetQueryResultsStream", workgroup),
        ("athena:BatchGetQueryExecution", workgroup),
        ("glue:GetDatabases", database),
        ("glue:GetTables", database),
        ("glue:BatchGetPartition", database),
        ("s3:GetBucketLocation", LAKE),
        ("s3:GetObject", f"{LAKE}/processed-data/bars/dt=2026-12-01/part-0.parquet"),
        ("s3:PutObject", f"{LAKE}/athena-results/q.csv"),
    ]
    for action, resource in browse:
        assert allowed(statements, action, resource), (action, resource)
    primary = f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/primary"
    assert not allowed(statements, "athena:StartQueryExecution", primary)
    assert not allowed(
        statements, "athena:GetDataCatalog", f"arn:aws:athena:us-east-1:{ACCOUNT}:datacatalog/x"
    )
    assert not allowed(statements, "s3:PutObject", f"{LAKE}/processed-data/bars/x.parquet")


def test_policy_simulator_itself():  # type: ignore[no-untyped-def]
    statements = [
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::b",
            "Condition": {"StringLike": {"s3:prefix": ["a/*"]}},
        },
        {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret/*"},
    ]
    assert allowed(statements, "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "a/x"})
    assert not allowed(statements, "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "c/x"})
    assert not allowed(statements, "s3:ListBucket", "arn:aws:s3:::b")  # key missing
    assert allowed(statements, "S3:GETOBJECT", "arn:aws:s3:::b/k")  # actions ignore case
    assert not allowed(statements, "s3:GetObject", "arn:aws:s3:::b/secret/k")  # deny wins
    assert not allowed(statements, "s3:GetObject", "arn:aws:s3:::b")  # the bare bucket


# ------------------------------------------------------------------ the body deploy sends


def test_minified_body_is_the_same_template(template):  # type: ignore[no-untyped-def]
    body = json.loads(minified(template))
    assert set(body["Resources"]) == set(template["Resources"])
    assert body["Parameters"] == template["Parameters"]
    assert body["Conditions"] == template["Conditions"]
    # Short-form GetAtt becomes the [resource, attribute] list JSON templates need.
    role = body["Resources"]["GlueJob"]["Properties"]["Role"]
    assert role == {"Fn::GetAtt": ["GlueJobRole", "Arn"]}
    # checkov's notes stay in the file only.
    assert "Metadata" not in body["Resources"]["DataBucket"]
    # The dashboard body loses its layout, not its content or placeholders.
    sent = body["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    committed = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    assert json.loads(sent) == json.loads(committed)
    assert '"${Stream}"' in sent and "\n" not in sent


def test_power_bi_guide_lists_only_what_the_analyst_policy_allows(template):  # type: ignore[no-untyped-def]
    # The committed guide, as `stockpipe powerbi generate` wrote it.
    guide = (Path(__file__).resolve().parents[2] / "power-bi" / "README.md").read_text()
    assert "primary" not in guide.lower()
    section = guide.split("**IAM Credentials**")[1].split("**Default Credentials**")[0]
    athena = re.findall(r"`((?:List|Get|Start|Stop)[A-Za-z]+)`", section.split("; Glue")[0])
    assert {"ListDataCatalogs", "GetTableMetadata", "GetQueryResultsStream"} <= set(athena)
    doc = rendered(template, "glue")
    policy = StackNames(doc).resolve(doc["Resources"]["AnalystPolicy"]["Properties"])
    catalog = f"arn:aws:athena:us-east-1:{ACCOUNT}:datacatalog/AwsDataCatalog"
    workgroup = f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/stockpipe-dev"
    statements = policy["PolicyDocument"]["Statement"]
    for action in athena:
        assert any(
            allowed(statements, f"athena:{action}", resource)
            for resource in (catalog, workgroup, "*")
        ), action
