"""The inference log's work: the request loggers' CloudEvents in (``events``, ``ingest``),
the logged answer checked against today's model (``agreement``), and the explanation policy
that explains logged inferences as they arrive (``policy``)."""
