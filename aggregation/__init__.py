"""Pure data functions for Gongsu: text normalization, PII redaction, loan cost and clustering.

Nothing in this package touches a database, the network, the environment, the clock or files:
callers pass data in (DataFrames, strings, dataclasses) and get data back.
"""
