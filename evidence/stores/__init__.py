"""Evidence stores: where sealed bundles are kept (a local folder, S3 with Object Lock)."""
