"""Feed ingestion: ``fetch`` (HTTP), ``parse`` (feedparser), ``store`` (dedup), ``runner``."""
