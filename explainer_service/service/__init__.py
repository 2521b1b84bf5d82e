"""The service's work apart from HTTP: tickets for explanations, de-duplicated through the
store and run in the worker pool (``tickets``), the leases it holds in the store
(``ledger``, shared with batches), readiness (``readiness``) and the periodic chores that
keep them (``chores``)."""

from explainer_service.service.ledger import Ledger, owner_id
from explainer_service.service.readiness import STORE_DOWN, Readiness
from explainer_service.service.tickets import Service, Ticket

__all__ = ["STORE_DOWN", "Ledger", "Readiness", "Service", "Ticket", "owner_id"]
