"""The HTTP routers, one per resource."""
