"""stockpipe: a real-time stock-market data pipeline, on one machine or on AWS."""

__version__ = "0.1.0"
