"""Packaging and deployment: per-function dependency layers, the code package, and the CloudFormation stack."""
