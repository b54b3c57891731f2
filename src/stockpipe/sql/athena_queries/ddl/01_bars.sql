-- table: bars
-- purpose: Cleaned, deduplicated intraday bars with technical indicators
-- generated from stockpipe.contract by `stockpipe athena ddl --write`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS bars (
  `symbol` string COMMENT 'Ticker symbol',
  `interval` string COMMENT 'Bar interval, e.g. 1min',
  `ts` timestamp COMMENT 'Bar start time, UTC',
  `open` double COMMENT 'Open price',
  `high` double COMMENT 'High price',
  `low` double COMMENT 'Low price',
  `close` double COMMENT 'Close price',
  `volume` bigint COMMENT 'Traded volume',
  `source` string COMMENT 'Where the bar came from: simulator, alphavantage, replay',
  `session` string COMMENT 'Exchange session: pre, regular, post (NYSE calendar), or closed (no session)',
  `change` double COMMENT 'close - previous close in the series',
  `change_pct` double COMMENT '100 * change / previous close',
  `sma_5` double COMMENT 'Simple moving average of close, 5 bars',
  `sma_20` double COMMENT 'Simple moving average of close, 20 bars',
  `sma_50` double COMMENT 'Simple moving average of close, 50 bars',
  `ema_12` double COMMENT 'Exponential moving average of close, 12 bars (SMA seed)',
  `ema_26` double COMMENT 'Exponential moving average of close, 26 bars (SMA seed)',
  `macd` double COMMENT 'MACD line (12, 26)',
  `macd_signal` double COMMENT 'MACD signal line (9)',
  `macd_hist` double COMMENT 'MACD histogram: macd - macd_signal',
  `rsi_14` double COMMENT 'Relative strength index, 14 bars, Wilder smoothing',
  `bb_upper` double COMMENT 'Bollinger upper band (20, 2 population sigma)',
  `bb_middle` double COMMENT 'Bollinger middle band (SMA 20)',
  `bb_lower` double COMMENT 'Bollinger lower band (20, 2 population sigma)',
  `vwap` double COMMENT 'Regular-session VWAP so far, from typical price (H+L+C)/3',
  `session_high` double COMMENT 'Running high of the regular session so far',
  `session_low` double COMMENT 'Running low of the regular session so far',
  `ingest_shard` string COMMENT 'Stream shard the winning record came from',
  `ingest_seq` string COMMENT 'Stream sequence number of the winning record'
)
COMMENT 'Cleaned, deduplicated intraday bars with technical indicators'
PARTITIONED BY (`dt` string COMMENT 'Exchange-local session date, YYYY-MM-DD (partition)')
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{{lake_root}}/processed-data/bars/_manifests/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{lake_root}}/processed-data/bars/_manifests/dt=${dt}/'
);
