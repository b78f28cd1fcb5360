"""PostgreSQL evidence: audit tables and pgaudit logs to Parquet, consistent table snapshots."""
