"""User-facing errors of the indexer (kept here so the indexer imports nothing else of ours)."""


class IndexerError(Exception):
    """Base of every indexer error a user can cause (bad repository path, corrupt store...)."""
