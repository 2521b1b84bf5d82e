"""What an operator sees: the request context (``context``, a leaf every layer may import),
the log records (``logs``), the Prometheus metrics (``metrics``) and the access log
(``access_log``, the outermost middleware)."""
