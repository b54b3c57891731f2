-- table: daily
-- purpose: One row per symbol and trading day, aggregated from its regular-session bars
-- generated from stockpipe.contract by `stockpipe athena ddl --write`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS daily (
  `symbol` string COMMENT 'Ticker symbol',
  `interval` string COMMENT 'Interval of the bars this row aggregates',
  `open` double COMMENT 'First open of the regular session',
  `high` double COMMENT 'Highest high of the regular session',
  `low` double COMMENT 'Lowest low of the regular session',
  `close` double COMMENT 'Last close of the regular session',
  `volume` bigint COMMENT 'Total volume of the regular session',
  `vwap` double COMMENT 'Regular-session VWAP from typical price',
  `change` double COMMENT 'close - close of the previous trading day',
  `change_pct` double COMMENT '100 * change / close of the previous trading day',
  `bar_count` bigint COMMENT 'Number of regular-session bars',
  `pre_volume` bigint COMMENT 'Volume of the pre-market bars of the day',
  `post_volume` bigint COMMENT 'Volume of the after-hours bars of the day'
)
COMMENT 'One row per symbol and trading day, aggregated from its regular-session bars'
PARTITIONED BY (`dt` string COMMENT 'Exchange-local session date, YYYY-MM-DD (partition)')
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{{lake_root}}/processed-data/daily/_manifests/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{lake_root}}/processed-data/daily/_manifests/dt=${dt}/'
);
