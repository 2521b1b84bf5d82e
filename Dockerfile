# The explainer service as an image, configured by environment variables alone
# (EXPLAINER_MODEL__URL, EXPLAINER_DATA__REFERENCE, ...: docs/configuration.md).
# deploy/kubernetes/ runs it beside a model (sidecar) or on its own. Linted by hadolint in
# `make test`; tests/integration/test_image.py starts the service with this file's CMD.

# The newest Python the server supports (pyproject.toml; `make test` runs the full suite on
# it in .venv where pyenv has it: docs/testing.md#pythons). EXTRAS: `server` (a sidecar: the
# service, its engines, SQLite and PostgreSQL) or `server,batch` (adds Ray and pyarrow for
# `explainer-service batch` and POST /batches): docker build --build-arg EXTRAS=server,batch .
ARG PYTHON_IMAGE=python:3.13-slim-trixie

# Stage 1: the service and its runtime dependencies (pyproject's [project] dependencies and
# the EXTRAS, not the dev extras) installed into a virtual environment.
FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=server
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY explainer_service ./explainer_service
COPY explainers ./explainers
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install "$(echo /wheels/*.whl)[${EXTRAS}]"

# Stage 2: only the virtual environment, run by an unprivileged user.
FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /srv/explainer explainer
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# The explanation store (service.store, default data/explanations.sqlite) is written here;
# mount a volume on /srv/explainer/data to keep it across restarts.
WORKDIR /srv/explainer
USER 10001:10001
EXPOSE 8080
# The slim image has no curl: Python's urllib asks the liveness route.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health/live', timeout=4)"]
CMD ["explainer-service", "serve", "--host", "0.0.0.0", "--port", "8080"]
