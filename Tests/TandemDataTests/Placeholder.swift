// Data ingest and readers: see the data issue.
