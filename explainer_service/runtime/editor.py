"""What an explanation page's what-if editor needs from the runtime: its fields, bounded by
the configured ranges (``features.overrides``) or the reference data's, and the grant (the
routes are ``api.whatif``).

With access control on and links signed, a page carries a grant: the query of a signed
link to ``GRANT_PATH``, which ``security.access`` accepts on the what-if routes' POSTs. It
expires as the page's own links do, and it grants only those two routes.
"""

from __future__ import annotations

import weakref
from typing import Any

from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render import LinkFor
from explainer_service.runtime.editor_fields import Range, editor_fields, ranges_of
from explainer_service.runtime.runtime import Runtime
from explainer_service.security.access import GRANT_PATH
from explainers import Explanation

__all__ = ["GRANT_PATH", "editor", "ranges"]

_ranges: weakref.WeakKeyDictionary[Runtime, dict[str, Range]] = weakref.WeakKeyDictionary()


def ranges(runtime: Runtime) -> dict[str, Range]:
    """The editor's bounds of each number: ``features.overrides``' ``min`` and ``max``
    where set, else the reference data's range (read once)."""
    found = _ranges.get(runtime)
    if found is None:
        overrides = runtime.settings.features.overrides
        found = _ranges[runtime] = ranges_of(runtime.schema, runtime.reference, overrides)
    return found


def editor(
    runtime: Runtime, id: str, explanation: Explanation, link: LinkFor, words: Vocabulary
) -> dict[str, Any] | None:
    """What a page's editor needs: its fields, the explanation it was opened on, the grant
    (the query of a signed link to ``/whatif``, empty when links are not signed) and the
    methods "explain this" offers; None for a page with no instance or a text model."""
    if explanation.instance is None:
        return None
    fields = editor_fields(runtime.schema, explanation.instance, ranges(runtime), words)
    if not fields:
        return None
    grant = link(GRANT_PATH).partition("?")[2]
    return {
        "fields": fields,
        "original": id,
        "grant": grant,
        "methods": runtime.local_methods,
        "method": explanation.method,
    }
