-- table: daily
-- purpose: One row per symbol and session, aggregated from bars
-- generated from stockpipe.contract by `stockpipe athena ddl --write`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS daily (
  `symbol` string COMMENT 'Ticker symbol',
  `interval` string COMMENT 'Interval of the bars this row aggregates',
  `open` double COMMENT 'First open of the session',
  `high` double COMMENT 'Highest high of the session',
  `low` double COMMENT 'Lowest low of the session',
  `close` double COMMENT 'Last close of the session',
  `volume` bigint COMMENT 'Total volume of the session',
  `vwap` double COMMENT 'Session VWAP from typical price',
  `change` double COMMENT 'close - previous session close',
  `change_pct` double COMMENT '100 * change / previous session close',
  `bar_count` bigint COMMENT 'Number of bars in the session'
)
COMMENT 'One row per symbol and session, aggregated from bars'
PARTITIONED BY (`dt` string COMMENT 'Exchange-local session date, YYYY-MM-DD (partition)')
STORED AS PARQUET
LOCATION '{{lake_root}}/processed-data/daily/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{lake_root}}/processed-data/daily/dt=${dt}/',
  'parquet.compression' = 'ZSTD'
);
