"""Tessera: a self-hosted Security Token Service speaking the AWS STS and IAM wire protocols."""

__version__ = "0.1.0"
