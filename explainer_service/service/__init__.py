"""The service's work apart from HTTP: tickets for explanations, de-duplicated through the
store and run in the worker pool (``tickets``)."""

from explainer_service.service.tickets import STORE_DOWN, Readiness, Service, Ticket

__all__ = ["STORE_DOWN", "Readiness", "Service", "Ticket"]
