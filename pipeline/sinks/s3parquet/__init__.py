"""Processed S3 objects (Parquet), one per raw object: the CoinMarketCap sink."""
