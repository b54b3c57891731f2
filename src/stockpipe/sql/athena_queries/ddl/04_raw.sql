-- table: raw
-- purpose: Every stream record exactly as received, JSON lines (the raw zone)
-- generated from stockpipe.contract by `stockpipe athena ddl --write`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS raw (
  `shard_id` string COMMENT 'Stream shard',
  `sequence_number` string COMMENT 'Stream sequence number',
  `partition_key` string COMMENT 'Partition key the producer used',
  `arrival_ts` string COMMENT 'When the stream accepted the record, ISO 8601 UTC',
  `data` string COMMENT 'The payload as received, when it is valid UTF-8',
  `data_b64` string COMMENT 'The payload in base64, when it is not valid UTF-8'
)
COMMENT 'Every stream record exactly as received, JSON lines (the raw zone)'
PARTITIONED BY (`dt` string COMMENT 'UTC arrival date, YYYY-MM-DD (partition)', `hour` string COMMENT 'UTC arrival hour, 00-23 (partition)')
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{{lake_root}}/raw-data/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = '{{lake_root}}/raw-data/dt=${dt}/hour=${hour}/'
);
