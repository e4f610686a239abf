"""The dataset writer: parquet shards, atomic output directories, hashing."""
