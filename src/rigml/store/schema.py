"""Tables of the metadata store, as SQLAlchemy Core.

Core, not the ORM: bulk series (metric points) are written and read in batches, and the
services build their own queries. Alembic migrations under ``migrations/`` create these
tables; this module is the reference they are checked against in the tests.

Metric points are not stored one row per point. Each flush of the background writer adds
one *segment* per metric key: steps, timestamps and values packed as little-endian arrays
(see ``rigml.track._segments``). Loading a million-point history is then a few hundred
blob reads, and NaN/inf survive on every backend. ``latest_metrics`` keeps the value at
the highest step of each key so that filters and comparisons are plain SQL.

Later capabilities (datasets, pipelines, registry, serving) add their tables with their
own migrations; rows that hold an object digest are listed in ``OBJECT_REFERENCES`` so
that deleting one owner keeps objects another still uses.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

DIGEST = String(64)  # blake3 hex digest of an object
RUN_ID = String(32)  # uuid4 hex

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", RUN_ID, primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(255), nullable=False),
    # running | finished | failed | killed; `crashed` is stored once detected
    Column("status", String(16), nullable=False),
    Column("start_time", Float, nullable=False),
    Column("end_time", Float),
    Column("heartbeat", Float, nullable=False),  # last time the writer checked in
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("pid_start", Float, nullable=False),  # process create time: guards pid reuse
    Column("user", String(255)),
    Column("command", Text),
    Column("python", String(64)),
    Column("git_commit", String(64)),
    Column("git_branch", String(255)),
    Column("git_dirty", Boolean),
    Column("env_object", DIGEST),  # environment lock (JSON) in the object store
    Column("machine_object", DIGEST),  # machine fingerprint (JSON) in the object store
    Column("error", Text),  # traceback of a failed run, reason of a killed one
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_runs_start", "start_time"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),  # JSON text, so 0.01 and "0.01" stay apart
    Column("num", Float),  # the value when it is a number, for numeric filters
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

metric_segments = Table(
    "metric_segments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("count", Integer, nullable=False),
    Column("first_step", BigInteger, nullable=False),
    Column("last_step", BigInteger, nullable=False),
    Column("steps", LargeBinary, nullable=False),  # int64 little-endian
    Column("times", LargeBinary, nullable=False),  # float64 epoch seconds
    Column("values", LargeBinary, nullable=False),  # float64, NaN/inf kept
    Index("ix_metric_segments_run_key", "run_id", "key", "id"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("step", BigInteger, nullable=False),
    # NULL means NaN: SQLite cannot store NaN in a REAL column (it reads back as NULL)
    Column("value", Float),
    Column("time", Float, nullable=False),
    Column("count", BigInteger, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("object", DIGEST, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_artifacts_object", "object"),
)

#: (table, column) pairs that hold object digests; an object is garbage only when no
#: row of any of them names it.
OBJECT_REFERENCES: list[tuple[Table, str]] = [
    (artifacts, "object"),
    (runs, "env_object"),
    (runs, "machine_object"),
]

# -- rig watch (migration 0002): sessions of `rig watch` and the bottlenecks they found

WATCH_ID = String(32)  # uuid4 hex

watch_sessions = Table(
    "watch_sessions",
    metadata,
    Column("id", WATCH_ID, primary_key=True),
    Column("started", Float, nullable=False),
    Column("ended", Float),
    Column("command", Text),  # shell-quoted; NULL when a running pid was attached
    Column("pid", Integer),
    Column("host", String(255)),
    Column("exit_code", Integer),  # shell style: 128 + N when signal N ended it
    Column("timeline_object", DIGEST),  # the timeline's Parquet file in the object store
    Column("summary", Text),  # JSON: peak, mean, min, last of every metric
    Index("ix_watch_sessions_started", "started"),
)

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "session_id",
        WATCH_ID,
        ForeignKey("watch_sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("rule", String(64), nullable=False),  # vram_exhausted, disk_filling, ...
    # vram | ram | swap | storage | thermal | power | starved_gpu | cpu
    Column("constraint", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("severity", String(16), nullable=False),  # critical | warning | info
    Column("evidence", Text, nullable=False),  # JSON list of sentences with the numbers
    Column("numbers", Text, nullable=False),  # JSON object of the same figures
    Column("first_fix", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_findings_session", "session_id"),
    Index("ix_findings_created", "created_at"),
)

OBJECT_REFERENCES.append((watch_sessions, "timeline_object"))

# -- data (migration 0003): dataset versions, their files, tags, lineage and contract checks

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),  # 1, 2, 3... per dataset
    Column("created_at", Float, nullable=False),
    Column("message", Text),
    Column("source", Text),  # the path that was added
    Column("kind", String(8), nullable=False),  # file | folder
    Column("files", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("fingerprint", DIGEST, nullable=False),  # blake3 of the sorted (path, object) list
    # changes against the previous version, so `rig data log` reads one row per version
    Column("added", Integer, nullable=False),
    Column("removed", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("host", String(255)),
    Column("user", String(255)),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_number"),
)

dataset_files = Table(
    "dataset_files",
    metadata,
    Column(
        "version_id",
        Integer,
        ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("path", String(1024), primary_key=True),  # POSIX path inside the version
    Column("object", DIGEST, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("tabular", Text),  # JSON: format, schema, rows and column statistics
    Index("ix_dataset_files_object", "object"),
)

dataset_tags = Table(
    "dataset_tags",
    metadata,
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(255), primary_key=True),
    Column(
        "version_id",
        Integer,
        ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", Float, nullable=False),
)

dataset_usage = Table(
    "dataset_usage",
    metadata,
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "version_id",
        Integer,
        ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("used_at", Float, nullable=False),
    Index("ix_dataset_usage_version", "version_id"),
)

dataset_checks = Table(
    "dataset_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "version_id",
        Integer,
        ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("contract_object", DIGEST, nullable=False),  # the contract YAML, as checked
    Column("passed", Boolean, nullable=False),
    Column("checks", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("report", Text, nullable=False),  # JSON of the CheckReport
    Column("created_at", Float, nullable=False),
    Index("ix_dataset_checks_version", "version_id", "created_at"),
)

OBJECT_REFERENCES.extend([(dataset_files, "object"), (dataset_checks, "contract_object")])

# -- gates (migration 0004): evaluation gate reports of candidate runs

gate_reports = Table(
    "gate_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("evaluated_at", Float, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("rules", Text, nullable=False),  # JSON list of the rules, as canonical text
    Column("results", Text, nullable=False),  # JSON list of per-rule results
    # the run (or model version) the regression rules compared against; NULL when none did
    Column("reference_id", String(255)),
    Index("ix_gate_reports_run", "run_id", "evaluated_at"),
)

# -- audit (migration 0005): the append-only, tamper-evident log of changes

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),  # 1, 2, 3... no gaps
    Column("time", Float, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(255), nullable=False),
    Column("subject", Text, nullable=False),
    Column("before", Text),  # canonical JSON, NULL when there was nothing before
    Column("after", Text),  # canonical JSON, NULL when nothing remains
    Column("reason", Text),
    Column("leaf", String(64), nullable=False),  # hex SHA-256 leaf hash (RFC 6962)
    Index("ix_audit_log_time", "time"),
)

# -- registry (migration 0006): models, their versions, aliases, moves and approvals

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("description", Text),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),  # 1, 2, 3... per model
    # no cascade: a run that made a registered version cannot be deleted (its lineage)
    Column("run_id", RUN_ID, ForeignKey("runs.id")),
    Column("source", Text),  # the run's artifact path the version was registered from
    Column("flavor", String(32), nullable=False),
    Column("info", Text, nullable=False),  # the package manifest (rigmodel.json) as JSON
    Column("fingerprint", DIGEST, nullable=False),  # blake3 of the sorted (path, object) list
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("description", Text),
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    Index("ix_model_versions_run", "run_id"),
)

model_files = Table(
    "model_files",
    metadata,
    Column(
        "version_id",
        Integer,
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("path", String(1024), primary_key=True),  # POSIX path inside the package
    Column("object", DIGEST, nullable=False),
    Column("size", BigInteger, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("move_id", Integer, nullable=False),  # the alias_moves row that set it
    Column("moved_at", Float, nullable=False),
)

alias_moves = Table(
    "alias_moves",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("from_version", Integer),  # version numbers; NULL: nobody held the alias
    Column("to_version", Integer),  # NULL: the alias was removed
    Column("action", String(16), nullable=False),  # promote | force | rollback | remove
    Column("actor", String(255), nullable=False),
    Column("time", Float, nullable=False),
    Column("reason", Text),
    Column("gate_report_id", Integer),  # the report that let it through; NULL: no gates applied
    Column("undone_by", Integer),  # the rollback move that undid this one
    Index("ix_alias_moves_alias", "model_id", "alias", "id"),
)

model_approvals = Table(
    "model_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "version_id", Integer, ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False
    ),
    Column("alias", String(64), nullable=False),
    Column("approver", String(255), nullable=False),
    Column("time", Float, nullable=False),
    Column("comment", Text),
    Index("ix_model_approvals_version", "version_id", "alias"),
)

OBJECT_REFERENCES.append((model_files, "object"))

# -- serving (migration 0007): the prediction log's segments and the feedback joined to it

prediction_segments = Table(
    "prediction_segments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(255), nullable=False),  # `rig serve`'s name, or "batch"
    Column("worker", String(255), nullable=False),  # pid@host of the process that wrote it
    Column("model", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("arm", String(64), nullable=False),  # primary | canary | shadow | an A/B arm | batch
    Column("first_time", Float, nullable=False),  # earliest and latest prediction time in it
    Column("last_time", Float, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("object", DIGEST, nullable=False),  # the segment's Parquet file (zstd)
    Column("bytes", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_prediction_segments_model_time", "model", "first_time"),
    Index("ix_prediction_segments_time", "first_time"),
)

prediction_feedback = Table(
    "prediction_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(255), nullable=False),
    Column("value", Text, nullable=False),  # JSON text: a label, a number, any JSON value
    Column("time", Float, nullable=False),  # when the truth was known (the caller's clock)
    Column("received_at", Float, nullable=False),
    Index("ix_prediction_feedback_request", "request_id", "time"),
)

OBJECT_REFERENCES.append((prediction_segments, "object"))
