"""AWS collectors: CloudTrail (with digest validation), CloudWatch Logs and VPC flow logs,
S3 and load-balancer access logs, RDS and EBS snapshots. Every call goes through the one
account object, core.aws.AwsAccount."""
