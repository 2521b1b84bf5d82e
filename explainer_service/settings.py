"""Configuration: one YAML file, every key overridable by environment variables.

``EXPLAINER_MODEL__URL=http://...`` overrides ``model.url`` (prefix ``EXPLAINER_``, nested
keys joined by ``__``), so a sidecar can run on environment variables alone. Environment
variables win over the file. The model URL comes only from here, never from a request.
"""

from __future__ import annotations

import json
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from explainer_service.errors import ConfigError
from explainers.model import OutputKind
from explainers.validation import problems_text

ENV_PREFIX = "EXPLAINER_"
ENV_NESTING = "__"
#: Variables with the prefix that are not settings: the command line's log format, and the
#: service URL the example notebook reads.
OTHER_ENV_VARS = frozenset({"EXPLAINER_LOG_FORMAT", "EXPLAINER_URL"})


class Protocol(StrEnum):
    v2 = "v2"  # Open Inference Protocol: /v2/models/{m}/infer
    seldon = "seldon"  # Seldon v1: {"data": {"names", "ndarray" | "tensor"}}
    kserve_v1 = "kserve-v1"  # KServe v1 / TF serving: {"instances"} -> {"predictions"}
    mlflow = "mlflow"  # MLflow /invocations: dataframe_split | dataframe_records
    records = "records"  # a JSON list of {feature: value}


class V2Options(BaseModel):
    input_layout: Literal["tensor", "columnar"] = Field(
        "tensor",
        description="tensor: one [n, d] input; columnar: one input per feature with "
        'parameters.content_type "pd" (what MLServer\'s pandas codec reads)',
    )
    input_name: str = Field("input-0", description="name of the single input (tensor layout)")
    output_name: str | None = Field(
        None, description="output to request and read, e.g. predict_proba; default: the first"
    )


class KServeV1Options(BaseModel):
    instance_format: Literal["list", "dict"] = Field(
        "list", description="each instance as a list in schema order or as {feature: value}"
    )


class MlflowOptions(BaseModel):
    format: Literal["dataframe_split", "dataframe_records"] = "dataframe_split"
    mlmodel: Path | None = Field(
        None,
        description="the model's MLmodel file: the column names of its signature are the "
        "features (the scoring server does not serve its signature)",
    )


class ModelSettings(BaseModel):
    """The remote model: where it is, what it speaks, and how to call it."""

    name: str = "model"
    version: str | None = Field(None, description="part of every explanation's id when set")
    url: HttpUrl
    protocol: Protocol = Protocol.v2
    output: OutputKind = OutputKind.probabilities
    class_names: list[str] | None = None
    probability_tolerance: float = Field(
        1e-3,
        ge=0,
        le=0.1,
        description="output probabilities: how far a value may lie outside [0, 1], and a row's "
        "sum from 1; beyond it the answer is refused (502 model_output), never explained",
    )
    class_labels: dict[str, str] = Field(
        default_factory=dict,
        description="class -> the words pages use for it, e.g. {'>50K': approved}",
    )
    subject: str = Field(
        "case", min_length=1, description="what pages call one row, e.g. applicant"
    )
    subject_plural: str | None = Field(None, description="default: subject + 's'")
    timeout_s: float = Field(10.0, gt=0, description="per HTTP call")
    max_batch_rows: int = Field(2000, ge=1, description="larger batches are split")
    max_response_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="a larger answer from the model is an error (502)"
    )
    concurrency: int = Field(4, ge=1, le=64, description="chunks in flight at once")
    retries: int = Field(3, ge=0, le=10, description="for refused/reset connections, 502, 503")
    backoff_s: float = Field(0.1, ge=0, description="first retry delay; doubles each retry")
    metadata_wait_s: float = Field(
        30.0,
        ge=0,
        le=600,
        description="v2: how long start-up waits for the model's metadata (its inputs) while "
        "the model is unreachable or answers 5xx; then the features are the reference "
        "columns. 0: the metadata is not asked for",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="sent with every call (e.g. Authorization); Seldon-Skip-Logging is always sent",
    )
    v2: V2Options = Field(default_factory=V2Options)
    kserve_v1: KServeV1Options = Field(default_factory=KServeV1Options)
    mlflow: MlflowOptions = Field(default_factory=MlflowOptions)

    @model_validator(mode="after")
    def _labelled_classes(self) -> ModelSettings:
        unknown = sorted(set(self.class_labels) - set(self.class_names or self.class_labels))
        if unknown:
            raise ValueError(
                f"class_labels: {unknown} are not among class_names {self.class_names}"
            )
        return self


class CandidateSettings(BaseModel):
    """A second version of the model behind its own URL (a canary, a shadow), explained
    beside ``model`` on request (``compare=candidate``). It reads the same features; every
    key not set here is ``model``'s (timeouts, batch size, protocol options, labels)."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="its predict URL; like model.url, only from here")
    name: str | None = Field(None, description="default: model.name")
    version: str | None = Field(None, description="what pages call it, e.g. 2026-12")
    protocol: Protocol | None = Field(None, description="default: model.protocol")
    output: OutputKind | None = Field(None, description="default: model.output")
    class_names: list[str] | None = Field(
        None, description="in the order of its answers; the same classes as model's"
    )
    headers: dict[str, str] | None = Field(None, description="default: model.headers")
    v2: V2Options | None = Field(None, description="default: model.v2")


class ModelsSettings(BaseModel):
    """Other versions of the model, by role."""

    model_config = ConfigDict(extra="forbid")

    candidate: CandidateSettings | None = Field(
        None, description="the version compared with model (docs/compare.md); unset: none"
    )
    rule_rows: int = Field(
        500,
        ge=20,
        le=10_000,
        description="a comparison of anchors: rows where a rule holds that the other "
        "version scores (one call) to re-measure the rule's precision",
    )
    window_rows: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="GET /compare/inferences: the newest logged inferences of the window "
        "the candidate re-scores, at most",
    )


def candidate_model(model: ModelSettings, candidate: CandidateSettings) -> ModelSettings:
    """``model`` with what ``candidate`` sets. Raises ``ValueError`` when the two do not
    answer the same classes."""
    chosen = {key: getattr(candidate, key) for key in candidate.model_fields_set}
    merged = model.model_copy(
        update={key: value for key, value in chosen.items() if value is not None}, deep=True
    )
    unknown = sorted(set(merged.class_labels) - set(merged.class_names or merged.class_labels))
    if unknown:
        raise ValueError(f"model.class_labels {unknown} are not among its class_names")
    ours, theirs = model.class_names, merged.class_names
    if ours is not None and theirs is not None and sorted(ours) != sorted(theirs):
        raise ValueError(f"class_names {theirs} are not model.class_names {ours}")
    return merged


def candidate_label(candidate: ModelSettings) -> str:
    """How messages name the candidate (``candidate_model``'s answer): ``models.candidate
    (income, version 2026-12)``."""
    version = f", version {candidate.version}" if candidate.version else ""
    return f"models.candidate ({candidate.name}{version})"


class TooFewLogged(StrEnum):
    """What start-up does when the window of logged inferences holds fewer than
    ``data.window.min_rows`` rows that fit the schema."""

    refuse = "refuse"  # the service does not start (ConfigError naming the counts)
    file = "file"  # the rows of data.reference, with a warning; provenance says so


class WindowSettings(BaseModel):
    """Reference rows from production: the request rows of the inferences logged in a
    window, instead of the rows of ``data.reference``, for every method that needs no
    labels (anchors, shap, counterfactual). Read once at start-up."""

    days: float | None = Field(
        None,
        gt=0,
        description="draw the reference rows from the inferences logged in the last this "
        "many days (read at start-up); unset: the rows of data.reference",
    )
    min_rows: int = Field(
        100,
        ge=1,
        description="fewer logged rows that fit the schema: see too_few",
    )
    max_rows: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="rows read at most, evenly spread over the window by the time they were "
        "logged (every k-th)",
    )
    too_few: TooFewLogged = Field(
        TooFewLogged.refuse,
        description="refuse: the service does not start; file: the rows of data.reference, "
        "with a warning",
    )

    @model_validator(mode="after")
    def _satisfiable(self) -> WindowSettings:
        if self.min_rows > self.max_rows:
            raise ValueError(
                f"min_rows ({self.min_rows}) is more than the max_rows ({self.max_rows}) read"
            )
        return self


class DataSettings(BaseModel):
    reference: Path = Field(
        description="CSV of reference rows (wire values), one column a feature: the schema "
        "(categories, ranges), the class names and importance's labels, and the reference "
        "rows unless data.window.days is set"
    )
    target: str | None = Field(None, description="label column; needed for importance")
    window: WindowSettings = Field(default_factory=WindowSettings)


def _comma_list(value: Any) -> Any:
    """A list from the environment: a JSON list, or comma-separated."""
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            return json.loads(value)
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class FeatureSource(StrEnum):
    """Where the features come from when ``features.names`` is unset."""

    auto = "auto"  # the model's metadata when it names its inputs, else data.reference
    model = "model"  # the model's metadata, or the service does not start
    reference = "reference"  # every column of data.reference but data.target


class FeatureSettings(BaseModel):
    source: FeatureSource = Field(
        FeatureSource.auto,
        description="without features.names: auto (the model's metadata where the protocol "
        "offers it, else every column of data.reference but data.target), model (the "
        "model's metadata, required) or reference (the columns, without asking the model)",
    )
    names: Annotated[list[str] | None, NoDecode, BeforeValidator(_comma_list)] = Field(
        None,
        description="the model's inputs, in the order it reads them; other columns of "
        "data.reference (an id, a timestamp) are ignored with a warning. Default: see "
        "features.source. From the environment as a JSON list or comma-separated",
    )
    immutable: list[str] = Field(
        default_factory=list, description="never changed by counterfactuals"
    )
    protected: Annotated[list[str], NoDecode, BeforeValidator(_comma_list)] = Field(
        default_factory=list,
        description="protected attributes (e.g. gender, ethnicity): every explanation of one "
        "row says whether they are in the anchor, their share of the SHAP attribution, "
        "whether a counterfactual changes them, and flips them (fairness.*). From the "
        "environment as a JSON list or comma-separated",
    )
    categorical: list[str] | None = Field(
        None, description="categorical features; default: the non-numeric columns"
    )
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="feature -> schema fields, e.g. {wire: code}, {direction: increase}, "
        "{min: 1, max: 80}",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="feature -> the name pages show, e.g. {age: Age}"
    )
    category_labels: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="feature -> category -> the words pages show, e.g. {relationship: "
        "{Not-in-family: not in a family}}; categories without one are shown as they are",
    )
    missing: list[str] = Field(
        default_factory=list,
        description="categories that mean 'unknown' (e.g. ['?']) in any categorical feature: "
        "counterfactuals never propose them",
    )
    links: list[list[str]] = Field(
        default_factory=list,
        description="groups of features that change together (counterfactuals keep each "
        "group to a combination seen in the reference data), e.g. [[education, education-num]]",
    )

    text: Annotated[list[str], NoDecode, BeforeValidator(_comma_list)] = Field(
        default_factory=list,
        description="the column of data.reference that holds the texts of a text model (its "
        "one input; the instance is the string); the methods then explain it token by token",
    )
    max_text_chars: int = Field(
        10_000, ge=1, le=1_000_000, description="text: a longer text is refused (422)"
    )
    max_text_tokens: int = Field(
        1_000, ge=1, le=100_000, description="text: a text of more tokens is refused (422)"
    )

    @model_validator(mode="after")
    def _one_text(self) -> FeatureSettings:
        """A text model's features are its text: ``names`` default to it."""
        if not self.text:
            return self
        if len(self.text) != 1:
            raise ValueError("text: a text model takes one text column")
        if self.names is None:
            self.names = list(self.text)
        elif self.names != self.text:
            raise ValueError(
                f"text: a text model takes its text as its only input; names {self.names} "
                f"must be {self.text} (or unset)"
            )
        return self

    @field_validator("names")
    @classmethod
    def _distinct_names(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("names: at least one feature")
            twice = sorted({name for name in value if value.count(name) > 1})
            if twice:
                raise ValueError(f"names: listed more than once: {', '.join(twice)}")
        return value


class BudgetSettings(BaseModel):
    """What one explanation may spend. A request whose estimated cost passes a limit is
    refused before it is queued; one that passes it while running is stopped. None: no limit.

    The defaults are at least twice the estimates of the example's default parameters
    (anchors: up to ~330,000 rows; counterfactual: ~1,600 calls) and refuse the largest
    accepted parameters (anchors with max_samples 20000 and beam_size 20: ~14 million rows).
    """

    max_model_calls: int | None = Field(
        5000, ge=1, description="HTTP requests to the model per explanation (chunks, retries)"
    )
    max_rows: int | None = Field(
        1_000_000, ge=1, description="rows sent to the model per explanation"
    )
    max_seconds: float | None = Field(
        120.0, gt=0, description="wall time of one explanation, enforced by the worker pool"
    )


class ServiceSettings(BaseModel):
    store: str = Field(
        "data/explanations.sqlite",
        description="the explanation store: a SQLite file (or :memory:), or a PostgreSQL URL "
        "postgresql://user@host:port/database shared by replicas (the password from "
        "store_password_file or libpq's PGPASSWORD / PGPASSFILE, not the URL)",
    )
    store_password_file: Path | None = Field(
        None, description="a file whose first line is the PostgreSQL store's password"
    )
    store_pool_size: int = Field(
        4, ge=1, le=100, description="connections to the PostgreSQL store at most, per process"
    )
    store_timeout_s: int = Field(
        10,
        ge=2,
        le=120,
        description="how long a request or a readiness check waits for a connection to the "
        "PostgreSQL store before it is answered 503 store_unavailable (also libpq's "
        "connect_timeout, whose least value is 2)",
    )
    retention_days: float | None = Field(
        None,
        gt=0,
        description="explanations done or failed longer ago than this are deleted from the "
        "store (checked at start-up, then hourly); unset: kept forever",
    )
    workers: int = Field(
        2,
        ge=1,
        le=64,
        description="worker processes, each computing one explanation at a time (about one "
        "per core; see docs/operations.md for the measurements behind the default)",
    )
    allowed_hosts: Annotated[list[str], NoDecode, BeforeValidator(_comma_list)] = Field(
        default_factory=lambda: ["*.svc", "*.svc.cluster.local", "*.cluster.local"],
        description="DNS names (Host header) the service answers for, '*.example.org' for every "
        "name below it, '*' for any; IP addresses, names without a dot (localhost, a "
        "Kubernetes Service's short name) and auth.public_base_url's host always pass. Keeps a "
        "page of another site from reaching the service through a DNS name it rebinds",
    )
    max_instances: int = Field(10, ge=1, le=1000, description="rows explained by one instance=all")
    max_json_depth: int = Field(
        32, ge=4, le=1000, description="JSON bodies nesting deeper are refused with 422"
    )
    max_payload_rows: int = Field(
        10_000,
        ge=1,
        le=10_000_000,
        description="rows one inference payload may hold; more are refused with 422",
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="a larger request body is refused with 413"
    )
    header_timeout_s: float = Field(
        5.0,
        gt=0,
        le=300,
        description="a request's line and headers must arrive within this long of the "
        "connection opening (of their first byte on a kept-alive connection); else 408 and "
        "the connection is closed",
    )
    body_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="a request's body must arrive within this long of its headers; else 408 "
        "and the connection is closed",
    )
    max_connections: int = Field(
        1000,
        ge=8,
        le=1_000_000,
        description="open connections at most (lowered to the open-file limit less 64); a "
        "new one beyond it displaces the oldest that has no request in progress, or is closed",
    )
    max_bodies: int = Field(
        16,
        ge=1,
        le=100_000,
        description="request bodies being received at once; a request with a body beyond "
        "it waits a second for a slot, then is refused with 503 busy and Retry-After",
    )
    max_header_bytes: int = Field(
        32 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="a longer request line and headers are refused with 431",
    )
    max_headers: int = Field(
        100, ge=8, le=10_000, description="more header fields are refused with 431"
    )
    drilldown_wait_s: float = Field(
        2.0, ge=0, le=300, description="a drill-down link waits this long, then shows progress"
    )
    max_queue: int = Field(
        32,
        ge=1,
        le=100_000,
        description="explanations waiting for a worker at most; beyond it requests get 429",
    )
    max_unstored: int = Field(
        256,
        ge=0,
        le=100_000,
        description="computed explanations the store did not take (it failed) kept in memory "
        "at most, to be stored once it answers again; beyond it, one is computed again later",
    )
    lease_s: float = Field(
        30.0,
        ge=1,
        le=3600,
        description="a process renews its hold on the explanations it computes this often "
        "(a third of it); when it dies, another process takes them over after this long",
    )
    ready_interval_s: float = Field(1.0, gt=0, description="readiness re-check while not ready")
    ready_recheck_s: float = Field(5.0, gt=0, description="readiness re-check once ready")
    shutdown_grace_s: int = Field(
        10,
        ge=0,
        description="on SIGTERM, running explanations (sync and async) get this long to "
        "finish; then the workers are stopped and what is unfinished is handed on",
    )
    budget: BudgetSettings = Field(default_factory=BudgetSettings)


class BatchSettings(BaseModel):
    """``explainer-service batch``: explanations of many rows on Ray."""

    address: str | None = Field(
        None,
        description="the Ray cluster to run on (ray://HOST:PORT, or auto); none: a local Ray",
    )
    max_in_flight: int = Field(
        4,
        ge=1,
        le=10_000,
        description="explanations running at once, each in its own Ray worker: how many "
        "streams of requests the model gets at most",
    )
    cpus_per_worker: float = Field(
        1.0, gt=0, description="CPUs Ray reserves for each worker (one explanation at a time)"
    )
    max_queued: int = Field(
        4,
        ge=1,
        le=1_000,
        description="batches of POST /batches waiting for the one running; beyond it, 429",
    )


#: The shortest bearer token or link secret accepted: shorter ones can be guessed.
MIN_SECRET_CHARS = 16


class ModelChanged(StrEnum):
    """What an explanation of a logged inference does when the model, asked again, no
    longer gives the logged answer."""

    explain = "explain"  # explain today's model, and say so
    refuse = "refuse"  # 409: the decision cannot be explained by the model that made it


class PolicyRule(BaseModel):
    """One rule of the explanation policy: the logged inferences it matches (every condition
    set must hold; at least one is needed) and the methods that explain them."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(
        None, description="the class the model predicted, by name (e.g. every refusal)"
    )
    fraction: float | None = Field(
        None,
        gt=0,
        le=1,
        description="a random share of the inferences, drawn from a hash of the inference id "
        "and seed: every replica, and every run, chooses the same ones",
    )
    seed: int = Field(0, description="what the fraction's draw is salted with")
    band: tuple[float, float] | None = Field(
        None,
        description="[low, high]: the logged probability of band_class lies within (both ends "
        "included); a regression's logged value, for a regression. An inference logged with a "
        "label but no probabilities never matches",
    )
    band_class: str | None = Field(
        None,
        description="the class whose probability band reads; default: the last class "
        "(the positive class of a binary classifier)",
    )
    methods: list[str] = Field(
        min_length=1, description="the methods (among explainers) that explain each match"
    )

    @field_validator("label", "band_class", mode="before")
    @classmethod
    def _class_name(cls, value: Any) -> Any:
        # `label: 1` in YAML names the class "1": class names are strings
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )

    @model_validator(mode="after")
    def _a_condition(self) -> PolicyRule:
        if self.label is None and self.fraction is None and self.band is None:
            raise ValueError(
                "a rule needs a condition: label, fraction or band (fraction: 1 for all)"
            )
        if self.band is not None and self.band[0] > self.band[1]:
            raise ValueError(
                f"band: the low end {self.band[0]} is above the high end {self.band[1]}"
            )
        return self


class PolicySettings(BaseModel):
    """The explanation policy: which logged inferences are explained in the background, as
    they arrive, and how fast. No rules (the default): none."""

    rules: list[PolicyRule] = Field(
        default_factory=list,
        description="an inference is explained by the methods of every rule it matches",
    )
    explanations_per_minute: int = Field(
        10,
        ge=1,
        description="background explanations started in any 60 s, at most (per store: every "
        "replica counts those started by all)",
    )
    model_calls_per_minute: int | None = Field(
        None,
        ge=1,
        description="model requests background explanations may make in any 60 s: each "
        "reserves its method's estimate before it starts and is charged what it reports; "
        "unset: no limit but explanations_per_minute",
    )
    max_backlog: int = Field(
        10_000,
        ge=1,
        description="explanations waiting or running at most; beyond it, new ones are dropped "
        "and counted",
    )
    scan_every_s: float = Field(
        10.0,
        gt=0,
        description="how often the store is searched for complete inferences the policy has "
        "not considered yet (logged by another replica, or before a crash)",
    )
    look_back_s: float = Field(
        900.0,
        gt=0,
        description="how far back (by the time they were logged) that search looks",
    )


class InferenceLogSettings(BaseModel):
    """The inference log: the model's own traffic, from its request logger (KServe's agent,
    Seldon's executor) as CloudEvents to ``POST /inferences``, kept in the store."""

    enabled: bool = Field(True, description="accept CloudEvents at POST /inferences")
    sink_secret: SecretStr | None = Field(
        None,
        description="loggers send no Authorization header: with access control on, they post "
        "to /inferences/<sink_secret> instead (and only there); unset with access control on: "
        "the sink needs a bearer token like any route. At least 16 characters of "
        "A-Z a-z 0-9 . _ ~ - (it is a URL path segment)",
    )
    models: list[str] = Field(
        default_factory=list,
        description="the names the model is logged under (KServe's InferenceService name, "
        "Seldon's deployment or model id); empty: model.name. Events of other models are "
        "dropped and counted",
    )
    components: list[str] = Field(
        default_factory=lambda: ["predictor"],
        description="KServe components whose events are kept (Ce-Component; an event naming "
        "none is kept). The predictor's carry what the model received and answered; a "
        "transformer's carry the client's payload before it was transformed. The explainer's "
        "are always dropped (they are explanations, not inferences)",
    )
    metadata: list[str] = Field(
        default_factory=list,
        description="request headers of the logger's metadata (Ce-Metadata) that are kept, "
        "by name (case-insensitive); nothing else the logger says about the caller is stored",
    )
    retention_days: float | None = Field(
        30,
        gt=0,
        description="logged inferences older than this are deleted (with the links to their "
        "explanations; the explanations follow service.retention_days); unset: kept",
    )
    max_rows: int = Field(
        1_000_000, ge=1, description="logged inferences kept at most; the oldest go first"
    )
    max_rows_per_event: int = Field(
        100, ge=1, le=10_000, description="rows one event may carry; more: 413"
    )
    max_events_per_s: float = Field(
        500,
        gt=0,
        description="events accepted per second (a burst of one second's worth); "
        "beyond it, 429 with Retry-After (the loggers retry)",
    )
    on_model_changed: ModelChanged = Field(
        ModelChanged.explain,
        description="explain: an explanation of a logged inference whose answer the model no "
        "longer gives is made of today's model and says so; refuse: 409",
    )
    agreement_tolerance: float = Field(
        1e-6,
        ge=0,
        description="how far today's scores (probabilities or a regression's value) may be from "
        "the logged ones and still agree",
    )
    policy: PolicySettings = Field(
        default_factory=PolicySettings,
        description="which logged inferences are explained in the background (docs/policy.md)",
    )

    @field_validator("sink_secret")
    @classmethod
    def _path_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value()
        if len(text) < MIN_SECRET_CHARS or not re.fullmatch(r"[A-Za-z0-9._~-]+", text):
            raise ValueError(
                f"needs at least {MIN_SECRET_CHARS} characters, each A-Z a-z 0-9 . _ ~ -"
            )
        return value

    @field_validator("components")
    @classmethod
    def _not_the_explainer(cls, value: list[str]) -> list[str]:
        if "explainer" in value:
            raise ValueError("the explainer's events are explanations, never kept")
        return value


class FairnessSettings(BaseModel):
    """How explanations and ``GET /fairness`` judge the protected attributes
    (``features.protected``; docs/fairness.md)."""

    shap_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description="a protected attribute whose share of the absolute SHAP attribution is at "
        "least this is flagged",
    )
    positive_class: str | None = Field(
        None,
        description="the favourable decision GET /fairness counts (e.g. '>50K'); default: "
        "the last of the model's classes",
    )
    max_flip_rows: int = Field(
        200,
        ge=1,
        le=10_000,
        description="rows one flip test may send (one per protected attribute and other "
        "value); a configuration needing more does not start",
    )
    max_window_rows: int = Field(
        100_000,
        ge=1,
        le=10_000_000,
        description="logged inferences GET /fairness reads at most (the newest of the window)",
    )
    max_window_explanations: int = Field(
        5_000,
        ge=1,
        le=1_000_000,
        description="explanations of the window's inferences GET /fairness reads at most for "
        "their flip tests (of the newest inferences)",
    )
    max_window_days: float = Field(
        366, gt=0, description="the longest window GET /fairness accepts"
    )
    four_fifths: float = Field(
        0.8,
        gt=0,
        le=1,
        description="a disparate impact ratio below this fails the four-fifths rule",
    )


class SecuritySettings(BaseModel):
    """Who may call the service, and the links it prints. Access control is on when
    ``tokens`` or ``trusted_header`` is set; secrets are ``SecretStr`` (masked in repr)."""

    tokens: Annotated[list[SecretStr], NoDecode, BeforeValidator(_comma_list)] = Field(
        default_factory=list,
        description="bearer tokens, any of which opens every route but /health/* and /metrics; "
        "from the environment as a JSON list or comma-separated",
    )
    trusted_header: str | None = Field(
        None,
        description="a request header an auth proxy in front sets (e.g. X-Forwarded-User): a "
        "non-empty value authenticates the request. Only for a service reachable through "
        "that proxy alone, which must drop the header when clients send it",
    )
    link_secret: SecretStr | None = Field(
        None, description="HMAC key that signs every link the service prints"
    )
    link_ttl_s: int = Field(7 * 24 * 3600, ge=1, description="how long a signed link is valid")
    public_base_url: HttpUrl | None = Field(
        None,
        description="where clients reach the service; links are built from it (never from "
        "the Host header), relative when unset",
    )

    @property
    def required(self) -> bool:
        """Access control is on: a token or the trusted header is needed."""
        return bool(self.tokens) or self.trusted_header is not None

    @field_validator("tokens")
    @classmethod
    def _long_tokens(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(len(token.get_secret_value()) < MIN_SECRET_CHARS for token in value):
            raise ValueError(f"every token needs at least {MIN_SECRET_CHARS} characters")
        return value

    @field_validator("link_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"needs at least {MIN_SECRET_CHARS} characters")
        return value

    @field_validator("trusted_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        if not value:
            return None  # an empty variable in the environment: no trusted header
        if not re.fullmatch(r"[A-Za-z0-9-]+", value):
            raise ValueError(f"{value!r} is not a header name")
        return value


#: The methods offered when ``explainers`` is not configured, by what the model answers.
CLASSIFIER_METHODS = ("anchors", "shap", "counterfactual")
REGRESSION_METHODS = ("shap", "counterfactual")
TEXT_METHODS = ("anchors", "shap", "lime")


def default_explainers(output: OutputKind, target: str | None) -> dict[str, dict[str, Any]]:
    """The methods, with their default parameters, that a model answering ``output`` gets
    when none are configured: anchors explain classifiers only; a regression gets
    importance too when the reference data is labelled (``target``)."""
    if output is not OutputKind.regression:
        return {method: {} for method in CLASSIFIER_METHODS}
    methods = (*REGRESSION_METHODS, "importance") if target else REGRESSION_METHODS
    return {method: {} for method in methods}


class Settings(BaseSettings):
    """Everything the service is configured with."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTING, extra="forbid"
    )

    model: ModelSettings
    data: DataSettings
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    auth: SecuritySettings = Field(default_factory=SecuritySettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    inference_log: InferenceLogSettings = Field(default_factory=InferenceLogSettings)
    fairness: FairnessSettings = Field(default_factory=FairnessSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    explainers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="method -> its parameters; the methods the service offers. Default: "
        "anchors, shap and counterfactual for a classifier; shap, counterfactual and (with "
        "data.target) importance for a regression",
    )

    @model_validator(mode="after")
    def _one_feature_source(self) -> Settings:
        source, model = self.features.source, self.model
        if source is not FeatureSource.auto and self.features.names is not None:
            raise ValueError(
                f"features.source: {source} contradicts features.names; set one of them"
            )
        if source is FeatureSource.model:
            if model.protocol is Protocol.v2 and model.metadata_wait_s == 0:
                raise ValueError("features.source: model needs model.metadata_wait_s above 0")
            if model.protocol is Protocol.mlflow and model.mlflow.mlmodel is None:
                raise ValueError("features.source: model needs model.mlflow.mlmodel (mlflow)")
            if model.protocol not in (Protocol.v2, Protocol.mlflow):
                raise ValueError(
                    f"features.source: model, but the {model.protocol} protocol has no "
                    "model metadata; set features.names"
                )
        return self

    @model_validator(mode="after")
    def _candidate_model(self) -> Settings:
        candidate = self.models.candidate
        if candidate is not None:
            if self.features.text:
                raise ValueError("models.candidate: compared for tabular models only")
            try:
                candidate_model(self.model, candidate)
            except ValueError as exc:
                raise ValueError(f"models.candidate: {exc}") from None
        return self

    def candidate(self) -> Settings | None:
        """These settings with ``models.candidate`` as the model (what its explanations
        are computed with), or None when no candidate is configured."""
        if self.models.candidate is None:
            return None
        model = candidate_model(self.model, self.models.candidate)
        return self.model_copy(update={"model": model, "models": ModelsSettings()})

    @model_validator(mode="after")
    def _text_reference(self) -> Settings:
        """A text model's reference texts come from data.reference only (for now)."""
        if self.features.text and self.data.window.days is not None:
            raise ValueError(
                "data.window: a text model's reference texts come from data.reference; "
                "unset data.window.days"
            )
        return self

    @model_validator(mode="after")
    def _default_explainers(self) -> Settings:
        if "explainers" not in self.model_fields_set:
            self.explainers = (
                {method: {} for method in TEXT_METHODS}
                if self.features.text
                else default_explainers(self.model.output, self.data.target)
            )
        return self

    @model_validator(mode="after")
    def _policy_methods(self) -> Settings:
        for i, rule in enumerate(self.inference_log.policy.rules):
            unknown = [m for m in rule.methods if m not in self.explainers]
            if unknown:
                raise ValueError(
                    f"inference_log.policy.rules.{i}.methods: {', '.join(unknown)} not among "
                    f"the configured explainers ({', '.join(self.explainers)})"
                )
        return self

    @field_validator("explainers", mode="before")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        # `anchors:` with nothing under it in YAML means "with default parameters"
        if isinstance(value, dict):
            return {k: (v if v is not None else {}) for k, v in value.items()}
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings  # the environment wins over the file


def unknown_env_var(name: str) -> str | None:
    """Why the environment variable ``name`` is no setting, or None when it is one (or has
    nothing to do with the service). pydantic-settings ignores such a variable, so a typo
    in a manifest would silently leave the setting at its default."""
    upper = name.upper()
    if not upper.startswith(ENV_PREFIX) or upper in OTHER_ENV_VARS:
        return None
    node: Any = Settings  # a model, a mapping (any key below it) or a leaf (no key below)
    for key in upper.removeprefix(ENV_PREFIX).lower().split(ENV_NESTING):
        if node is dict:
            continue
        if node is None:
            return f"{name}: nothing below {key!r}'s parent"
        field = node.model_fields.get(key)
        if field is None:
            return f"{name}: {key!r} is not among {sorted(node.model_fields)}"
        annotation = field.annotation
        models = [a for a in get_args(annotation) if isinstance(a, type) and a is not type(None)]
        if len(models) == 1 and issubclass(models[0], BaseModel):  # an optional section
            annotation = models[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            node = annotation
        else:
            node = dict if get_origin(annotation) is dict else None
    return None


def load_settings(path: Path | str | None = None) -> Settings:
    """Settings from a YAML file (optional) and the environment.

    A relative ``data.reference`` (or ``model.mlflow.mlmodel``) is taken from the working
    directory when it exists there, else from the configuration file's directory. Raises
    ``ConfigError`` naming each wrong key, and each ``EXPLAINER_`` variable that names no
    setting.
    """
    unknown = [why for name in sorted(os.environ) if (why := unknown_env_var(name))]
    if unknown:
        raise ConfigError(f"environment variables that name no setting: {'; '.join(unknown)}")
    values: dict[str, Any] = {}
    base = None
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read the configuration {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of keys, not {type(loaded).__name__}")
        values, base = loaded, path.resolve().parent
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        # a problem with the whole file is its message alone: the message names its keys
        problems = problems_text(exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None
    if base is not None:
        settings.data.reference = _near(settings.data.reference, base)
        mlmodel = settings.model.mlflow.mlmodel
        if mlmodel is not None:
            settings.model.mlflow.mlmodel = _near(mlmodel, base)
    return settings


def _near(path: Path, base: Path) -> Path:
    """``path``, or ``base / path`` when it is relative and not in the working directory."""
    return base / path if not path.is_absolute() and not path.exists() else path
