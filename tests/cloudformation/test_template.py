"""Unit tests on src/stockpipe/aws/cloudformation/stockpipe.yaml: what moto cannot deploy is checked here."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stockpipe import contract
from stockpipe.aws.deploy import OUTPUT_ENV, export_lines, find_artifacts, parse_params
from stockpipe.aws.glue_catalog import (
    GLUE_TABLES,
    committed_block,
    render_tables_yaml,
    table_parameters,
)
from stockpipe.errors import ConfigError


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def _statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for res in resources.values():
        props = res.get("Properties", {})
        docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if res["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            docs.append(props["PolicyDocument"])
        for doc in docs:
            out.extend(doc["Statement"])
    return out


# ------------------------------------------------------------------ parameters


def test_parameters_and_cheap_defaults(template):  # type: ignore[no-untyped-def]
    params = template["Parameters"]
    expected_defaults = {
        "EnvironmentName": "dev",
        "StreamMode": "PROVISIONED",
        "ShardCount": 1,
        "RetentionHours": 24,
        "RawTransitionIaDays": 30,
        "RawTransitionGlacierDays": 90,
        "RawExpirationDays": 365,
        "AthenaResultsExpirationDays": 7,
        "GlueVersion": "5.0",
        "GlueWorkerType": "G.025X",
        "GlueNumberOfWorkers": 2,
        "AthenaBytesScannedCutoff": 1073741824,
        "AlarmEmail": "",
    }
    assert {k: params[k]["Default"] for k in expected_defaults} == expected_defaults
    assert params["StreamMode"]["AllowedValues"] == ["PROVISIONED", "ON_DEMAND"]
    assert "Default" not in params["ArtifactsBucket"]


# ------------------------------------------------------------------ bucket


def test_bucket_is_encrypted_private_and_tls_only(resources):  # type: ignore[no-untyped-def]
    props = resources["DataBucket"]["Properties"]
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (deny,) = resources["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [
        {"Fn::GetAtt": "DataBucket.Arn"},
        {"Fn::Sub": "${DataBucket.Arn}/*"},
    ]


def test_lifecycle_rules_are_parameters(resources):  # type: ignore[no-untyped-def]
    rules = {
        r["Id"]: r for r in resources["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    raw = rules["raw-data-tiering"]
    assert raw["Prefix"] == "raw-data/"
    assert raw["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": {"Ref": "RawTransitionIaDays"}},
        {"StorageClass": "GLACIER_IR", "TransitionInDays": {"Ref": "RawTransitionGlacierDays"}},
    ]
    assert raw["ExpirationInDays"] == {"Ref": "RawExpirationDays"}
    athena = rules["athena-results-expiry"]
    assert (athena["Prefix"], athena["ExpirationInDays"]) == (
        "athena-results/",
        {"Ref": "AthenaResultsExpirationDays"},
    )
    # EMR and EMR Serverless write job logs under logs/; they expire.
    logs = rules["logs-expiry"]
    assert (logs["Prefix"], logs["ExpirationInDays"]) == ("logs/", {"Ref": "LogsExpirationDays"})
    abort = rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"]
    assert abort == {"DaysAfterInitiation": {"Ref": "AbortIncompleteUploadDays"}}


# ------------------------------------------------------------------ stream and IAM


def test_stream_is_kms_encrypted_with_retention(resources):  # type: ignore[no-untyped-def]
    props = resources["Stream"]["Properties"]
    assert props["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
    assert props["RetentionPeriodHours"] == {"Ref": "RetentionHours"}
    assert props["StreamModeDetails"] == {"StreamMode": {"Ref": "StreamMode"}}
    # ON_DEMAND streams must not declare a shard count.
    assert props["ShardCount"] == {
        "Fn::If": ["IsProvisioned", {"Ref": "ShardCount"}, {"Ref": "AWS::NoValue"}]
    }


def test_no_full_access_policies_or_wildcard_actions(resources):  # type: ignore[no-untyped-def]
    text = json.dumps(resources)
    assert "FullAccess" not in text
    for logical_id, role in _of_type(resources, "AWS::IAM::Role").items():
        # The one AWS managed policy: EMR's scoped service policy, which acts only on
        # resources tagged for-use-with-amazon-emr-managed-policies=true.
        expected = (
            [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"
                }
            ]
            if logical_id == "EmrServiceRole"
            else None
        )
        assert role["Properties"].get("ManagedPolicyArns") == expected, logical_id
    # Actions without resource-level permissions, the only ones allowed on "*".
    no_resource_level = {
        "athena:ListDataCatalogs",
        "athena:ListWorkGroups",
        "athena:ListEngineVersions",
    }
    for st in _statements(resources):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert all(a != "*" and not a.endswith(":*") for a in actions), st
        if st["Resource"] == "*" and actions != ["cloudwatch:PutMetricData"]:
            assert set(actions) <= no_resource_level, st
        elif st["Resource"] == "*":
            # PutMetricData has no resource-level permissions either: only our namespace.
            assert "cloudwatch:namespace" in st["Condition"]["StringEquals"]


def test_producer_can_only_put_to_this_stream(resources):  # type: ignore[no-untyped-def]
    (policy,) = resources["ProducerRole"]["Properties"]["Policies"]
    put = policy["PolicyDocument"]["Statement"][0]
    assert put["Resource"] == {"Fn::GetAtt": "Stream.Arn"}
    assert set(put["Action"]) == {
        "kinesis:PutRecord",
        "kinesis:PutRecords",
        "kinesis:DescribeStreamSummary",
        "kinesis:ListShards",
    }


def test_glue_role_scopes(resources):  # type: ignore[no-untyped-def]
    (policy,) = resources["GlueJobRole"]["Properties"]["Policies"]
    by_sid = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert by_sid["ReadThisStream"]["Resource"] == {"Fn::GetAtt": "Stream.Arn"}
    assert not any(a.startswith("kinesis:Put") for a in by_sid["ReadThisStream"]["Action"])
    lake = [r["Fn::Sub"] for r in by_sid["ReadWriteLakePrefixes"]["Resource"]]
    assert lake == [
        "${DataBucket.Arn}/raw-data/*",
        "${DataBucket.Arn}/processed-data/*",
        "${DataBucket.Arn}/quarantine/*",
        "${DataBucket.Arn}/_checkpoints/*",
        "${DataBucket.Arn}/_state/*",
    ]
    catalog = [r["Fn::Sub"] for r in by_sid["StockpipeCatalogOnly"]["Resource"]]
    assert catalog[1].endswith(":database/${GlueDatabase}")
    assert catalog[2].endswith(":table/${GlueDatabase}/*")
    assert by_sid["OwnLogs"]["Resource"][0]["Fn::Sub"].endswith(":log-group:/aws-glue/*")


# ------------------------------------------------------------------ Glue


def test_generated_glue_tables_are_committed():  # type: ignore[no-untyped-def]
    from stockpipe.aws.deploy import DEFAULT_TEMPLATE

    assert committed_block(DEFAULT_TEMPLATE) == render_tables_yaml(), (
        "src/stockpipe/aws/cloudformation/stockpipe.yaml is stale: run `stockpipe deploy --render`"
    )


def test_the_template_declares_every_table_but_latest() -> None:
    assert [t.name for t in GLUE_TABLES] == ["bars", "daily", "quarantine", "raw"]
    assert set(contract.TABLES) - {t.name for t in GLUE_TABLES} == {"latest"}


@pytest.mark.parametrize("table", GLUE_TABLES, ids=[t.name for t in GLUE_TABLES])
def test_glue_table_matches_contract(resources, table):  # type: ignore[no-untyped-def]
    tables = {
        r["Properties"]["TableInput"]["Name"]: r["Properties"]["TableInput"]
        for r in _of_type(resources, "AWS::Glue::Table").values()
    }
    got = tables[table.name]
    cols = [(c["Name"], c["Type"]) for c in got["StorageDescriptor"]["Columns"]]
    assert cols == [(c.name, c.athena_type) for c in table.columns]
    parts = [(p["Name"], p["Type"]) for p in got["PartitionKeys"]]
    assert parts == [(p.name, "string") for p in table.partitions]
    assert got["TableType"] == "EXTERNAL_TABLE"


def test_partition_projection_values(resources):  # type: ignore[no-untyped-def]
    params = resources["GlueTableRaw"]["Properties"]["TableInput"]["Parameters"]
    assert {k: v for k, v in params.items() if k.startswith("projection.")} == {
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": "2024-01-01,NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
    }
    # In Fn::Sub, ${!dt} is the literal ${dt} that Athena fills in.
    assert params["storage.location.template"] == {
        "Fn::Sub": "s3://${DataBucket}/raw-data/dt=${!dt}/hour=${!hour}/"
    }
    serde = resources["GlueTableRaw"]["Properties"]["TableInput"]["StorageDescriptor"]
    assert serde["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"


def test_a_partition_without_projection_is_a_config_error() -> None:
    odd = replace(contract.BARS, name="odd", partitions=(contract.Column("region", "string", "R"),))
    with pytest.raises(ConfigError, match="'region' of table 'odd' has no projection"):
        table_parameters(odd)


@pytest.mark.parametrize(
    ("logical_id", "location"),
    [
        ("GlueTableBars", "s3://${DataBucket}/processed-data/bars/_manifests/"),
        ("GlueTableDaily", "s3://${DataBucket}/processed-data/daily/_manifests/"),
        ("GlueTableQuarantine", "s3://${DataBucket}/quarantine/_manifests/"),
        ("GlueTableRaw", "s3://${DataBucket}/raw-data/"),
    ],
    ids=["bars", "daily", "quarantine", "raw"],
)
def test_table_locations(resources, logical_id, location):  # type: ignore[no-untyped-def]
    table = resources[logical_id]["Properties"]["TableInput"]
    assert table["StorageDescriptor"]["Location"] == {"Fn::Sub": location}
    template = table["Parameters"]["storage.location.template"]["Fn::Sub"]
    assert template.startswith(location + "dt=${!dt}/")


def test_glue_streaming_job(resources):  # type: ignore[no-untyped-def]
    props = resources["GlueJob"]["Properties"]
    assert props["Command"] == {
        "Name": "gluestreaming",
        "PythonVersion": "3",
        "ScriptLocation": {"Fn::Sub": "s3://${ArtifactsBucket}/${GlueScriptKey}"},
    }
    assert props["GlueVersion"] == {"Ref": "GlueVersion"}
    assert props["WorkerType"] == {"Ref": "GlueWorkerType"}
    assert props["NumberOfWorkers"] == {"Ref": "GlueNumberOfWorkers"}
    args = props["DefaultArguments"]
    assert args["--job-language"] == "python"
    assert args["--additional-python-modules"]["Fn::If"][0] == "HasWheel"
    assert args["--stream_arn"] == {"Fn::GetAtt": "Stream.Arn"}
    assert args["--source"] == "kinesis"
    assert args["--out"] == {"Fn::Sub": "s3://${DataBucket}"}
    assert args["--checkpoint"] == {"Fn::Sub": "s3://${DataBucket}/_checkpoints/glue-process-bars/"}
    # Every job argument is one the Spark job reads inside Glue.
    from stockpipe.spark.job import GLUE_ARGS, GLUE_OPTIONAL

    ours = {a.removeprefix("--") for a in args if not a.startswith("--enable")}
    glue_own = {"job-language", "additional-python-modules", "TempDir"}
    assert ours - glue_own <= set(GLUE_ARGS) | set(GLUE_OPTIONAL)
    assert set(GLUE_ARGS) <= ours


# ------------------------------------------------------------------ Athena and monitoring


def test_athena_workgroup_enforces_location_and_cutoff(resources):  # type: ignore[no-untyped-def]
    config = resources["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    assert config["ResultConfiguration"]["OutputLocation"] == {
        "Fn::Sub": "s3://${DataBucket}/athena-results/"
    }


def test_alarms_cover_stream_and_pipeline_metrics(resources):  # type: ignore[no-untyped-def]
    from stockpipe.metrics.base import METRICS, NAMESPACE

    alarms = _of_type(resources, "AWS::CloudWatch::Alarm").values()
    simple = {(a["Properties"].get("Namespace"), a["Properties"].get("MetricName")) for a in alarms}
    assert {
        ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds"),
        ("AWS/Kinesis", "WriteProvisionedThroughputExceeded"),
        ("AWS/Kinesis", "PutRecords.FailedRecords"),
        (NAMESPACE, "ProcessingLagMs"),
    } <= simple
    rate = resources["QuarantineRateAlarm"]["Properties"]["Metrics"]
    used = {m["MetricStat"]["Metric"]["MetricName"] for m in rate if "MetricStat" in m}
    assert used == {"RecordsQuarantined", "RecordsProcessed"}
    # Every StockPipe metric an alarm uses is one the metrics module really emits.
    assert used | {"ProcessingLagMs"} <= set(METRICS)
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_glue_failure_rule_and_email_subscription(resources):  # type: ignore[no-untyped-def]
    rule = resources["GlueJobFailureRule"]["Properties"]
    assert rule["EventPattern"]["source"] == ["aws.glue"]
    assert rule["EventPattern"]["detail"]["jobName"] == [{"Ref": "GlueJob"}]
    assert "FAILED" in rule["EventPattern"]["detail"]["state"]
    assert rule["Targets"][0]["Arn"] == {"Ref": "AlarmTopic"}
    sub = resources["AlarmSubscription"]
    assert sub["Condition"] == "HasAlarmEmail"
    assert sub["Properties"]["Protocol"] == "email"
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    assert {w["type"] for w in widgets} == {"metric", "alarm"}


def test_outputs_feed_every_export(template):  # type: ignore[no-untyped-def]
    outputs = template["Outputs"]
    assert {key for key, _ in OUTPUT_ENV} <= set(outputs)
    assert {"StreamArn", "EnvironmentExports"} <= set(outputs)


# ------------------------------------------------------------------ deploy helpers


def test_parse_params_checks_names(template):  # type: ignore[no-untyped-def]
    assert parse_params(["ShardCount=2", "AlarmEmail=a=b@x.io"], template) == {
        "ShardCount": "2",
        "AlarmEmail": "a=b@x.io",
    }
    with pytest.raises(ConfigError, match="not a parameter.*ShardCount"):
        parse_params(["Shards=2"], template)
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        parse_params(["ShardCount"], template)


def test_export_lines_quote_values():  # type: ignore[no-untyped-def]
    lines = export_lines({"BucketName": "b-1", "Region": "eu-west-1", "StreamName": "a b"})
    assert lines == [
        "export AWS_REGION=eu-west-1",
        "export S3_BUCKET_NAME=b-1",
        "export KINESIS_STREAM_NAME='a b'",
        "export STOCKPIPE_STREAM=kinesis",
        "export STOCKPIPE_SQL=athena",
        "export STOCKPIPE_METRICS=cloudwatch",
    ]


def test_missing_artifacts_name_the_make_target(tmp_path):  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="make glue-artifacts"):
        find_artifacts(tmp_path)
    (tmp_path / "process_bars.py").write_text("")
    (tmp_path / "stockpipe-0.1.0-py3-none-any.whl").write_bytes(b"")
    script, wheels = find_artifacts(tmp_path)
    assert script.name == "process_bars.py"
    assert [w.name for w in wheels] == ["stockpipe-0.1.0-py3-none-any.whl"]


@pytest.mark.parametrize("table", GLUE_TABLES, ids=[t.name for t in GLUE_TABLES])
def test_glue_table_agrees_with_athena_ddl(resources, table):  # type: ignore[no-untyped-def]
    """The committed Athena DDL (src/stockpipe/sql/athena_queries/ddl) and the Glue table describe one table."""
    ddl_dir = Path(__file__).resolve().parents[2] / "src/stockpipe/sql/athena_queries" / "ddl"
    (ddl,) = [
        p.read_text()
        for p in sorted(ddl_dir.glob("*.sql"))
        if f"-- table: {table.name}\n" in p.read_text()
    ]
    glue = resources[f"GlueTable{table.name.capitalize()}"]["Properties"]["TableInput"]
    ddl_props = dict(re.findall(r"'((?:projection|storage)\.[^']+)' = '([^']*)'", ddl))
    glue_props = {
        k: v for k, v in glue["Parameters"].items() if k.startswith(("projection.", "storage."))
    }
    glue_location = glue_props.pop("storage.location.template")["Fn::Sub"]
    ddl_location = ddl_props.pop("storage.location.template")
    assert glue_props == ddl_props
    assert glue_location.replace("${!", "${") == ddl_location.replace(
        "{{lake_root}}", "s3://${DataBucket}"
    )
    body = ddl.split("PARTITIONED BY")[0]
    ddl_columns = re.findall(r"^  `(\w+)` (\w+)", body, flags=re.MULTILINE)
    glue_columns = [(c["Name"], c["Type"]) for c in glue["StorageDescriptor"]["Columns"]]
    assert glue_columns == ddl_columns


def test_template_fits_inline(template, template_path):  # type: ignore[no-untyped-def]
    from stockpipe.aws.deploy import MAX_TEMPLATE_BODY
    from stockpipe.aws.template_render import minified

    # Deploy sends the template as compact JSON. Over the limit, deploy must go through
    # TemplateURL, which the moto test does not cover, and --dry-run cannot run at all.
    assert len(template_path.read_bytes()) > MAX_TEMPLATE_BODY  # the commented YAML
    body = minified(template)
    assert len(body.encode()) <= MAX_TEMPLATE_BODY


def test_render_rewrites_a_stale_block(template_path, tmp_path, cli):  # type: ignore[no-untyped-def]
    stale = tmp_path / "stockpipe.yaml"
    stale.write_text(template_path.read_text().replace("Name: ema_26", "Name: ema_99"))
    result = cli("deploy", "--render", "--template", str(stale))
    assert result.code == 0, result.err
    assert "regenerated" in result.err
    assert stale.read_text() == template_path.read_text()
