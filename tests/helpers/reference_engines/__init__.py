"""The reference engines the tests compare ours against (alibi 0.9.4; dice-ml), run in
their own environment, ``.venv-reference``, which pins numpy<2: one module per engine, each
run as ``python -m`` with a JSON request on stdin and a JSON answer on stdout
(``tests.helpers.reference`` runs them). Nothing here is imported by the main environment."""
