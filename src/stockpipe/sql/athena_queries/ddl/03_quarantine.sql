-- table: quarantine
-- purpose: Records rejected by cleaning, with the reason and where they came from
-- generated from stockpipe.contract by `stockpipe athena ddl --write`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS quarantine (
  `reason` string COMMENT 'Reason code, e.g. invalid_json, bad_price',
  `detail` string COMMENT 'Human-readable explanation',
  `payload` string COMMENT 'The raw payload as received (invalid UTF-8 replaced)',
  `shard_id` string COMMENT 'Stream shard',
  `sequence_number` string COMMENT 'Stream sequence number',
  `arrival_ts` timestamp COMMENT 'When the stream accepted the record, UTC'
)
COMMENT 'Records rejected by cleaning, with the reason and where they came from'
PARTITIONED BY (`dt` string COMMENT 'UTC arrival date, YYYY-MM-DD (partition)')
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{{lake_root}}/quarantine/_manifests/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{lake_root}}/quarantine/_manifests/dt=${dt}/'
);
