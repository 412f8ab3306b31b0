"""A real-time serverless market-data pipeline: sources, raw S3 layer, SNS/SQS FIFO fan-out, sinks."""

__version__ = "0.1.0"
__all__ = ["__version__"]
