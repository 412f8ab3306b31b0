"""Snowflake table of 1-minute bars: the Yahoo Finance sink."""
