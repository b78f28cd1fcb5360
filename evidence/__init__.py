"""evidence: collectors (PostgreSQL, AWS, files) that stage Parquet artifacts, and evidence stores."""
