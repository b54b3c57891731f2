-- table: latest
-- purpose: One row per symbol, interval and session date: bar count, first bar time, first open and the newest bar of that date
-- generated from stockpipe.contract by `stockpipe athena ddl --write`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS latest (
  `symbol` string COMMENT 'Ticker symbol',
  `interval` string COMMENT 'Bar interval, e.g. 1min',
  `dt` string COMMENT 'Exchange-local session date, YYYY-MM-DD',
  `first_ts` timestamp COMMENT 'Start time of the first bar of the date, UTC',
  `bar_count` bigint COMMENT 'Number of bars of the date',
  `day_open` double COMMENT 'Open of the first bar of the date',
  `ts` timestamp COMMENT 'Start time of the newest bar of the date, UTC',
  `open` double COMMENT 'Open price of the newest bar',
  `high` double COMMENT 'High price of the newest bar',
  `low` double COMMENT 'Low price of the newest bar',
  `close` double COMMENT 'Close price of the newest bar',
  `volume` bigint COMMENT 'Traded volume of the newest bar',
  `vwap` double COMMENT 'bars.vwap of the newest bar',
  `session_high` double COMMENT 'bars.session_high of the newest bar',
  `session_low` double COMMENT 'bars.session_low of the newest bar'
)
COMMENT 'One row per symbol, interval and session date: bar count, first bar time, first open and the newest bar of that date'
STORED AS PARQUET
LOCATION '{{lake_root}}/processed-data/latest/'
TBLPROPERTIES (
  'parquet.compression' = 'ZSTD'
);
