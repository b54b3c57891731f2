"""Coordination: run the stages (ingest, archive, process) alone or all together."""
