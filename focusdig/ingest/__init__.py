"""Feed ingestion: fetching (``fetch``), parsing (``parse``), storing (``store``), running (``runner``)."""
