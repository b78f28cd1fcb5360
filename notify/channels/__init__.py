"""Delivery channels: SMTP, Slack, SNS, PagerDuty, file/stdout. One Protocol in interface.py."""
