"""Other servers' explain surfaces, so their clients call this service unchanged.

One module per protocol (routes; their bodies in ``bodies``): ``kserve_v1`` (KServe's
``/v1/models/{name}:explain``), ``seldon`` (Seldon Core's ``/api/v1.0/explain``), ``v2``
(the Open Inference Protocol as MLServer's alibi-explain runtime answers it). alibi's
``{"meta", "data"}`` shape (``alibi_shape``) and parameter names (``alibi_params``) are
what those servers' clients read and send.
"""
