"""What the service's pages and the notebook client both show: the vocabulary of a page,
colours, number formats, plotly figures, one-sentence summaries, the parts of a page as
text (``views``), explanations as pandas tables (``frames``) and the client's inputs as
records (``inputs``).

It imports only what the client installs (pydantic, pandas, plotly) and the explanation
model (``explainers.explanation``): never Jinja2, the store or an engine."""
