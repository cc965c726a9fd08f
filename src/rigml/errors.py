"""Errors a user can cause, each with a message and a hint for what to do next.

The tree is shallow on purpose: catch ``RigError`` for everything, or one branch.

    RigError
    ├── NotFound            (LookupError)   a lab, run, object... that does not exist
    │   ├── LabNotFound
    │   ├── RunNotFound
    │   ├── ObjectNotFound
    │   ├── DatasetNotFound
    │   ├── UnknownOffer                    a cloud instance not in the price catalogue
    │   ├── UnknownRegion                   a region not in the grid-intensity table
    │   ├── GateMetricMissing               a gate names a metric the run lacks (exit 2)
    │   ├── PipelineNotFound                no rig.yaml here or in a parent folder
    │   ├── UnknownStage                    `rig run NAME` with no such stage
    │   ├── SweepNotFound                   `rig sweep --resume NAME` with no such sweep
    │   └── ModelNotFound                   no such model, version, or nobody holds the alias
    ├── Conflict                            the request contradicts what is stored
    │   ├── ParamConflict
    │   ├── DataChanged                     a file changed or vanished during `rig data add`
    │   ├── LabBusy                         another process holds the lab's objects lock
    │   ├── CheckoutTargetExists
    │   ├── PromotionRefused                an alias that needs another user's approval
    │   ├── NothingToRollBack               no earlier holder of the alias to give it back to
    │   ├── ModelInUse                      a run that made a registered version (not deleted)
    │   └── ExportTargetExists              `rig serve --export DIR` into a folder that holds files
    ├── ContractFailed                      a dataset version fails its contract
    ├── GatesFailed                         a run fails its evaluation gates, or has none stored
    │   ├── StageGatesFailed                a pipeline stage ran but fails its gates (rig run)
    │   └── PromotionBlocked                a promotion whose gates failed; nothing moved
    ├── StageFailed                         a pipeline stage exited non-zero (exit code, output)
    ├── InvalidInput        (ValueError)    malformed values from the caller
    │   ├── InvalidMetric
    │   ├── InvalidQuery
    │   │   └── InvalidSortSpec             a --sort spec with an unknown key or a stray word
    │   ├── InvalidConfig                   a rig.toml setting or RIG_* override, located
    │   ├── NotFittedError   (AttributeError)  an estimator used before fit
    │   ├── InvalidDatasetRef
    │   ├── InvalidContract
    │   ├── BadDataFile                     unreadable, malformed or empty data (file, line)
    │   │   ├── MixedSchemas
    │   │   ├── EmptyDataset
    │   │   └── BadBatchInput               a row `rig predict` cannot read or score (chunk, line)
    │   ├── InvalidWorkload                 a workload file or flag `rig plan` cannot use
    │   ├── InvalidPrices                   a price or grid-intensity file with a bad figure
    │   ├── InvalidAssumption               a cost assumption out of range (negative price...)
    │   ├── InvalidGate                     a gate rule that cannot be read, located (gates[2])
    │   ├── InvalidPipeline                 a rig.yaml mistake, located (file, line, stage.key)
    │   ├── InvalidSweepParam               a `rig sweep --param` spec that cannot be read
    │   ├── InvalidSweep                    sweep options that cannot work (metric, GPUs, resume)
    │   ├── LabNotShared                    a Ray cluster elsewhere, a lab only this machine reaches
    │   ├── InvalidModelRef                 not NAME, NAME@3, NAME@latest or NAME@ALIAS
    │   ├── InvalidModelPackage             a package without an intact manifest or model file
    │   ├── UnknownFlavor                   no flavor fits the object or file; name it with --flavor
    │   ├── SignatureMismatch               input that does not fit the model's signature
    │   ├── InvalidServeConfig              `rig serve` options that cannot work together
    │   ├── UnsafeBind                      a non-loopback address without an explicit --host
    │   ├── InvalidTokenFile                a --token-file that is missing, empty or unreadable
    │   ├── InvalidPredictionQuery          a prediction-log filter: a time, a column, a limit
    │   └── InvalidFeedback                 feedback without a request id, or not JSON
    ├── StoreUnavailable                    the database or object store cannot serve
    │   ├── SchemaTooNew
    │   ├── LabNotWritable
    │   ├── DiskFull
    │   ├── ObjectCorrupted
    │   └── OutputNotWritable               a file the user asked for cannot be written there
    ├── ExecutorUnavailable                 the Ray cluster cannot be reached or started
    ├── ServiceRequestFailed                `rig serve status/canary` could not reach the service
    ├── ServiceExportFailed                 an export that could not build its wheel or pins
    ├── BatchWorkerFailed                   a Ray worker of `rig predict` could not load the model
    ├── AuditTampered                       an audit entry edited, removed or reordered
    ├── InvalidCheckpoint                   an audit checkpoint unreadable or badly signed
    ├── UntrustedModel                      loading would run code (pickle, skops types): --trusted
    └── MissingExtra        (ImportError)   an optional dependency is not installed
        └── FlavorUnavailable               a model flavor's library is not installed (pip hint)

The CLI prints ``message`` and ``hint`` in two lines and exits with ``exit_code``.
"""

from __future__ import annotations


class RigError(Exception):
    """Root of every error rigml raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class NotFound(RigError, LookupError):
    """Something named by the caller does not exist."""


class Conflict(RigError):
    """The request contradicts what is already stored."""


class InvalidInput(RigError, ValueError):
    """A value from the caller is malformed."""

    exit_code = 2


class StoreUnavailable(RigError):
    """The metadata store or the object store cannot serve the request."""


class MissingExtra(RigError, ImportError):
    """An optional dependency is not installed."""

    def __init__(self, extra: str, *, module: str | None = None) -> None:
        what = f" ({module})" if module else ""
        super().__init__(
            f"this needs the optional '{extra}' dependencies{what}, which are not installed",
            hint=f"pip install 'rigml[{extra}]'",
        )
        self.extra = extra


class LabNotFound(NotFound):
    def __init__(self, start: str) -> None:
        super().__init__(
            f"no rig lab found in {start} or any parent folder",
            hint="create one with `rig init`, or point RIG_LAB at an existing lab",
        )
        self.start = start


class RunNotFound(NotFound):
    """No run, or several, answer to a reference (an id, a prefix of one, or a name).

    ``ambiguous`` describes the candidates (e.g. ``"3f2a9c1d0e4b brisk-otter-1 (started
    2026-11-01 12:30)"``); ``total`` is how many there are when more were found than shown.
    """

    def __init__(
        self, run_id: str, *, ambiguous: list[str] | None = None, total: int | None = None
    ) -> None:
        if ambiguous:
            count = max(total or 0, len(ambiguous))
            shown = "; ".join(ambiguous[:5]) + (f"; and {count - 5} more" if count > 5 else "")
            super().__init__(
                f"run {run_id!r} matches {count} runs: {shown}",
                hint="give more characters of the id, or a name only one run has",
            )
        else:
            hexadecimal = bool(run_id) and all(c in "0123456789abcdef" for c in run_id.lower())
            what = "with id" if hexadecimal else "named"
            super().__init__(
                f"no run {what} {run_id!r}",
                hint="give a run id, a unique prefix of one, or a run name; see `rig runs list`",
            )
        self.run_id = run_id
        self.candidates = list(ambiguous or [])


class ObjectNotFound(NotFound):
    def __init__(self, digest: str) -> None:
        super().__init__(
            f"object {digest[:16]}… is missing from the object store",
            hint="it was deleted or never copied; `rig data verify` lists every missing object",
        )
        self.digest = digest


class ParamConflict(Conflict):
    def __init__(self, key: str, old: object, new: object) -> None:
        super().__init__(
            f"param {key!r} is already {old!r} for this run; refusing to change it to {new!r}",
            hint="params are fixed for a run: start a new run, or log the change as a tag",
        )
        self.key, self.old, self.new = key, old, new


class InvalidMetric(InvalidInput):
    def __init__(self, key: str, value: object) -> None:
        super().__init__(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r:.60}",
            hint="log numbers only; put text in tags or params",
        )
        self.key, self.value = key, value


class InvalidQuery(InvalidInput):
    def __init__(self, query: str, problem: str) -> None:
        super().__init__(
            f"cannot read filter {query!r}: {problem}",
            hint="write e.g. \"metrics.acc > 0.9 and params.lr = 0.01 and tags.team = 'nlp'\"",
        )
        self.query = query


class SchemaTooNew(StoreUnavailable):
    def __init__(self, found: str, known: str) -> None:
        super().__init__(
            f"this lab's store has schema revision {found!r}, newer than this rigml knows "
            f"(latest {known!r}); nothing was changed",
            hint="upgrade rigml (pip install -U rigml) to open this lab",
        )
        self.found, self.known = found, known


class LabNotWritable(StoreUnavailable):
    def __init__(self, path: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"cannot write to the lab at {path}: {reason}",
            hint=hint
            or "check the folder's permissions and free space, or choose another with --path",
        )
        self.path, self.reason = path, reason


class DiskFull(StoreUnavailable):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"no space left on the device holding {path}; the write was rolled back",
            hint="free some space (`rig runs delete`, `rig data gc`) and try again",
        )
        self.path = path


class ObjectCorrupted(StoreUnavailable):
    def __init__(self, digest: str, actual: str, location: str) -> None:
        super().__init__(
            f"object {digest[:16]}… at {location} is corrupted (its content hashes to "
            f"{actual[:16]}…)",
            hint="restore it from a backup or re-log it; `rig data verify` checks every object",
        )
        self.digest, self.actual, self.location = digest, actual, location


# -- data: dataset versions and contracts ----------------------------------------------------


class DatasetNotFound(NotFound):
    def __init__(self, name: str, version: str | None = None, *, known: str | None = None) -> None:
        if version is None:
            msg, hint = f"no dataset named {name!r}", "see `rig data list`"
        else:
            msg = f"dataset {name!r} has no version {version!r}"
            hint = f"known: {known}" if known else f"see `rig data log {name}`"
        super().__init__(msg, hint=hint)
        self.name, self.version = name, version


class InvalidDatasetRef(InvalidInput):
    def __init__(self, ref: str, problem: str) -> None:
        super().__init__(
            f"cannot read dataset reference {ref!r}: {problem}",
            hint="write NAME, NAME@3, NAME@latest or NAME@TAG",
        )
        self.ref = ref


class DataChanged(Conflict):
    def __init__(self, path: str, what: str) -> None:
        super().__init__(
            f"{path} {what} while it was being added; no version was registered",
            hint="wait until whatever writes the data has finished, then add it again",
        )
        self.path = path


class LabBusy(Conflict):
    def __init__(self, lock: str, waited: float) -> None:
        super().__init__(
            f"another rig process has held the lab's lock {lock} for {waited:g}s",
            hint="wait for the other `rig data add`, `rig data gc` or run deletion to finish",
        )
        self.lock, self.waited = lock, waited


class CheckoutTargetExists(Conflict):
    def __init__(self, dest: str) -> None:
        super().__init__(
            f"{dest} already exists and is not an empty folder; nothing was written",
            hint="choose a new destination, or remove it first",
        )
        self.dest = dest


class ContractFailed(RigError):
    """A dataset version fails checks of its contract; ``report`` lists every failure."""

    def __init__(
        self, ref: str, failed: int, total: int, report: object = None, *, reason: str = ""
    ) -> None:
        super().__init__(
            reason or f"{ref} fails {failed} of {total} contract checks",
            hint=f"see the report: `rig data check {ref} --contract FILE`",
        )
        self.ref, self.failed, self.total, self.report = ref, failed, total, report


class InvalidContract(InvalidInput):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(
            f"contract {where}: {problem}",
            hint="`rig data contract infer NAME@VERSION > contract.yaml` writes a valid one",
        )
        self.where = where


class BadDataFile(InvalidInput):
    """A data file cannot be read as what its name says; names the file and line."""

    def __init__(
        self, path: str, problem: str, *, line: int | None = None, hint: str | None = None
    ) -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(
            f"{where}: {problem}",
            hint=hint or "fix or remove the file, or add it with --no-inspect to store it as bytes",
        )
        self.path, self.line, self.problem = path, line, problem


class MixedSchemas(BadDataFile):
    def __init__(self, path: str, other: str, difference: str) -> None:
        super().__init__(
            path,
            f"its columns differ from {other} in the same folder ({difference})",
            hint="files of one folder and format are read as one table: give them the same "
            "columns, move one to its own folder, or pass --allow-mixed-schemas",
        )
        self.other = other


class EmptyDataset(BadDataFile):
    def __init__(self, path: str, what: str = "holds no files") -> None:
        super().__init__(path, what, hint="point `rig data add` at a file or a non-empty folder")


# -- plan: placement, cost and carbon ----------------------------------------------------------


class InvalidWorkload(InvalidInput):
    def __init__(
        self, where: str, problem: str, *, hint: str | None = None, file: bool = False
    ) -> None:
        default = (
            "see the file format in `rig plan --help` (workloads: a list of {family, "
            "frequency, hours, models}); `rig plan --families` lists the families"
            if file
            else "write FAMILY[:FREQUENCY[:MODEL,...[:HOURS]]], e.g. "
            "-w lora-finetune:weekly:llama-3.1-8b; `rig plan --families` lists the families"
        )
        super().__init__(f"workload {where}: {problem}", hint=hint or default)
        self.where, self.problem = where, problem


class InvalidPrices(InvalidInput):
    def __init__(self, where: str, problem: str, *, what: str = "price file") -> None:
        hint = (
            "each region needs a code, g_per_kwh from 0 to 5000, a source and an as_of date; "
            "`rig cost grid --json` prints the shipped table to copy"
            if what == "grid file"
            else "each figure needs a non-negative number, a source and an as_of date "
            "(YYYY-MM-DD); `rig cost prices --json` prints the shipped catalogue to copy"
        )
        super().__init__(f"{what} {where}: {problem}", hint=hint)
        self.where, self.problem, self.what = where, problem, what


class InvalidAssumption(InvalidInput):
    def __init__(self, name: str, value: object, expected: str, *, hint: str | None = None) -> None:
        shown = "nothing" if value is None else repr(value)
        super().__init__(
            f"{name} must be {expected}, got {shown}",
            hint=hint or f"pass a value for the {name} that is {expected}",
        )
        self.name, self.value = name, value


class UnknownOffer(NotFound):
    def __init__(self, offer: str, close: list[str]) -> None:
        hint = f"did you mean {', '.join(close)}?" if close else "see `rig cost prices`"
        super().__init__(f"no cloud instance {offer!r} in the price catalogue", hint=hint)
        self.offer, self.close = offer, close


class UnknownRegion(NotFound):
    def __init__(self, region: str, close: list[str]) -> None:
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else "use a country code (DE, FRA, US...), `rig cost grid` lists them, "
            "or install rigml[carbon] for CodeCarbon's 200+ countries"
        )
        super().__init__(f"no grid intensity for region {region!r}", hint=hint)
        self.region, self.close = region, close


class NotFittedError(InvalidInput, AttributeError):
    """An estimator (a profiler, later a drift detector) used before ``fit``."""

    def __init__(self, cls: str) -> None:
        super().__init__(
            f"this {cls} is not fitted yet", hint=f"call {cls}.fit(batches) before using it"
        )


class InvalidConfig(InvalidInput):
    """A settings file (``rig.toml``) is malformed; ``where`` names the file and the key."""

    def __init__(self, where: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"{where}: {problem}",
            hint=hint
            or "fix the file; `rig init --path NEW_FOLDER` writes one listing every setting",
        )
        self.where, self.problem = where, problem


class OutputNotWritable(StoreUnavailable):
    """A file or folder the user asked for cannot be written; nothing was left behind."""

    def __init__(self, path: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"cannot write {path}: {reason}",
            hint=hint or "choose a path in a folder you can write to",
        )
        self.path, self.reason = path, reason


class InvalidSortSpec(InvalidQuery):
    """A sort spec (``rig runs list --sort``) that names an unknown key or is malformed."""

    def __init__(self, spec: str, problem: str) -> None:
        InvalidInput.__init__(
            self,
            f"cannot sort by {spec!r}: {problem}",
            hint="sort by one or more comma-separated keys, '-' first for descending: "
            "-metrics.acc,name",
        )
        self.query = spec


# -- gates: rules a candidate model must pass before promotion ---------------------------------

_GATE_FORMS = (
    "write METRIC OP BOUND, e.g. 'metrics.auc >= 0.85', 'metrics.auc >= production - 0.01', "
    "'metrics.auc >= production - 1%', 'slices(metrics.auc, by=segment) >= overall - 0.05', "
    "'artifacts.size_mb <= 200'"
)


class InvalidGate(InvalidInput):
    """A gate rule that cannot be read; ``where`` locates it (``gates[2]``, ``rules.yaml:
    gates[0].op``)."""

    def __init__(self, where: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{where}: {problem}", hint=hint or _GATE_FORMS)
        self.where, self.problem = where, problem


class GateMetricMissing(NotFound):
    """A gate names a metric the candidate (or its reference) does not have: an error, never
    a pass. Exit code 2, so scripts tell "could not evaluate" from "failed" (1)."""

    exit_code = 2

    def __init__(
        self, rule: str, metric: str, owner: str, known: list[str], *, hint: str | None = None
    ) -> None:
        import difflib

        close = difflib.get_close_matches(metric, known, n=3, cutoff=0.5)
        if hint is None:
            more = f" and {len(known) - 20} more" if len(known) > 20 else ""
            hint = f"did you mean {', '.join(close)}? " if close else ""
            hint += (
                f"{owner} has metrics: {', '.join(known[:20])}{more}"
                if known
                else (f"{owner} has no metrics logged")
            )
        super().__init__(f"gate {rule!r}: {owner} has no metric {metric!r}", hint=hint)
        self.rule, self.metric, self.owner = rule, metric, owner
        self.known, self.close = known, close


class GatesFailed(RigError):
    """A run's newest stored gate report failed (``report`` is it), or none is stored
    (``report`` is None); the message holds the report's table."""

    def __init__(self, run: str, table: str = "", report: object = None) -> None:
        if report is None:
            message = f"run {run} has no stored gate report"
            hint = f"evaluate its gates first: `rig gates check {run} --file gates.yaml`"
        else:
            message = f"run {run} fails its evaluation gates:\n{table}"
            hint = f"see `rig gates show {run}`; train a better candidate or revise the gates"
        super().__init__(message, hint=hint)
        self.run, self.report = run, report


# -- pipeline: rig.yaml, stages, rig.lock ------------------------------------------------------


class InvalidPipeline(InvalidInput):
    """A mistake in ``rig.yaml``: the file, the line where known, the stage and key."""

    def __init__(
        self,
        file: str,
        where: str,
        problem: str,
        *,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        place = f"{file}:{line}" if line is not None else file
        located = f"{place}: {where}: " if where else f"{place}: "
        super().__init__(
            located + problem,
            hint=hint or "fix rig.yaml; the reference is in `rig run --help`",
        )
        self.file, self.where, self.problem, self.line = file, where, problem, line


class PipelineNotFound(NotFound):
    def __init__(self, start: str) -> None:
        super().__init__(
            f"no rig.yaml in {start} or any folder above it",
            hint="write a rig.yaml with a `stages:` mapping in the project folder, or pass -f FILE",
        )
        self.start = start


class UnknownStage(NotFound):
    def __init__(self, name: str, known: list[str]) -> None:
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "`rig dag` lists the stages"
        super().__init__(f"no stage named {name!r} in rig.yaml", hint=hint)
        self.name = name


class StageFailed(RigError):
    """A stage's command exited non-zero (or could not start); its dependants did not run."""

    report: object = None  # rigml.pipeline.RunReport of the whole run, set by run_pipeline

    def __init__(
        self, stage: str, returncode: int, tail: list[str], *, log: str | None = None
    ) -> None:
        shown = "\n".join(f"  | {line}" for line in tail[-10:])
        text = (
            f"stage {stage!r} failed with exit code {returncode}"
            if returncode
            else f"stage {stage!r} exited 0 but did not write all its outs"
        )
        super().__init__(
            f"{text}; its last output:\n{shown}" if shown else text,
            hint=(f"the full output is the run's artifact {log}; " if log else "")
            + "fix the stage and `rig run` again: stages upstream stay cached",
        )
        # ``returncode``, not ``exit_code``: that is the CLI's exit status (1) for this error
        self.stage, self.returncode, self.tail = stage, returncode, tail


class StageGatesFailed(GatesFailed):
    """A stage ran (its outs are cached) but its run fails the stage's ``gates:``; its
    dependants did not run. ``report`` is the gate report (as for :class:`GatesFailed`),
    ``run_report`` the whole ``rig run`` (a ``rigml.pipeline.RunReport``)."""

    run_report: object = None  # set by run_pipeline

    def __init__(self, stage: str, run: str, table: str, report: object) -> None:
        super().__init__(run, table, report)
        self.args = (f"stage {stage!r} (run {run[:12]}) fails its gates:\n{table}",)
        self.message = self.args[0]
        self.hint = (
            f"the report is stored with the run: `rig gates show {run[:12]}`; its dependants "
            "did not run. Improve the stage (a changed param or dep reruns it) or revise its gates"
        )
        self.stage = stage


class InvalidSweepParam(InvalidInput):
    """A ``--param KEY=SPEC`` of ``rig sweep`` that is not a range or a list of values."""

    def __init__(self, param: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"--param {param}: {problem}",
            hint=hint or "write KEY=LOW:HIGH, KEY=LOW:HIGH:log, KEY=LOW:HIGH:int or KEY=A,B,C",
        )
        self.param, self.problem = param, problem


class InvalidSweep(InvalidInput):
    """Sweep options that cannot work together: no params, an unknown sampler, no GPU..."""


class SweepNotFound(NotFound):
    def __init__(self, name: str, known: list[str]) -> None:
        shown = ", ".join(sorted(known)[:10]) or "none yet"
        super().__init__(f"no sweep named {name!r} in this lab", hint=f"sweeps: {shown}")
        self.name = name


# -- executors: where stages run ---------------------------------------------------------------


class LabNotShared(InvalidInput):
    """A Ray cluster on other machines, and a store or object store only this machine reaches."""

    def __init__(self, address: str, part: str, where: str) -> None:
        super().__init__(
            f"the Ray cluster at {address} cannot reach this lab's {part} ({where}): "
            "its workers run on other machines",
            hint="point the lab at shared services: RIG_STORE_URL=postgresql+psycopg://... "
            "(or [store] url) and RIG_OBJECTS_URL=s3://... (or [objects] url) in rig.toml; "
            "or run on this machine with --executor local, or a local Ray (no --ray-address)",
        )
        self.address, self.part, self.where = address, part, where


class ExecutorUnavailable(RigError):
    """The executor's cluster cannot be reached (a wrong address, a stopped cluster)."""

    def __init__(self, address: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"cannot connect to the Ray cluster at {address}: {reason}",
            hint=hint
            or "check --ray-address (or [pipeline] address in rig.toml) and that the "
            "cluster runs (`ray status`); leave the address out for a local Ray",
        )
        self.address, self.reason = address, reason


# -- audit: the tamper-evident log of changes -------------------------------------------------


class AuditTampered(RigError):
    """The audit log no longer matches its hashes: an entry edited, removed or reordered."""

    def __init__(self, seq: int | None, detail: str) -> None:
        where = f"audit entry {seq}" if seq is not None else "the audit log"
        super().__init__(
            f"{where} fails verification: {detail}",
            hint="the log was changed outside rigml; compare with a backup or an older "
            "checkpoint (`rig audit verify --checkpoint FILE`); keep checkpoints off this machine",
        )
        self.seq, self.detail = seq, detail


class InvalidCheckpoint(RigError):
    """A checkpoint or signing key that cannot be read, or whose signature does not match."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(
            f"audit checkpoint {where}: {reason}",
            hint="use a file written by `rig audit checkpoint -o FILE`, unmodified",
        )
        self.where, self.reason = where, reason


# -- registry: models, versions, aliases, approvals --------------------------------------------


class ModelNotFound(NotFound):
    """No model, version or alias answers to a reference; ``known`` says what exists."""

    def __init__(self, ref: str, *, known: str | None = None, hint: str | None = None) -> None:
        super().__init__(
            f"no model answers to {ref!r}" + (f" ({known})" if known else ""),
            hint=hint or "`rig models list` shows the models; `rig models show NAME` its versions",
        )
        self.ref = ref


class InvalidModelRef(InvalidInput):
    def __init__(self, ref: str, problem: str) -> None:
        super().__init__(
            f"model reference {ref!r}: {problem}",
            hint="write NAME, NAME@3, NAME@latest or NAME@ALIAS (e.g. churn@production)",
        )
        self.ref = ref


class PromotionRefused(Conflict):
    """A promotion that a policy (approval, gates that cannot apply) refuses; no alias moved."""


class NothingToRollBack(Conflict):
    def __init__(self, model: str, alias: str, why: str) -> None:
        super().__init__(
            f"cannot roll back {model}@{alias}: {why}",
            hint=f"move it explicitly: `rig models promote {model} VERSION --to {alias}`",
        )


class ModelInUse(Conflict):
    """Runs that made registered model versions cannot be deleted: the lineage needs them."""

    def __init__(self, runs: list[str], versions: list[str]) -> None:
        shown = ", ".join(versions[:5]) + (
            f" and {len(versions) - 5} more" if len(versions) > 5 else ""
        )
        super().__init__(
            f"{len(runs)} run(s) made registered model versions ({shown}); nothing was deleted",
            hint="leave out those runs; a registered version keeps its run for lineage",
        )
        self.runs, self.versions = runs, versions


class PromotionBlocked(GatesFailed):
    """A promotion whose gates failed: the report is stored, no alias moved."""

    def __init__(self, ref: str, alias: str, run: str, table: str, report: object) -> None:
        super().__init__(run, table, report)
        self.args = (f"{ref} cannot move to {alias}: run {run} fails its gates:\n{table}",)
        self.message = self.args[0]
        name = ref.partition("@")[0]
        version = ref.partition("@")[2]
        self.hint = (
            "train a better candidate or revise the gates; to override, "
            f'`rig models promote {name} {version} --to {alias} --force --reason "..."` '
            "(recorded in the audit log)"
        )


# -- registry: model packages, flavors and signatures ----------------------------------------


class InvalidModelPackage(InvalidInput):
    """A model package folder that cannot be read: no manifest, a bad one, a missing or
    corrupted model file, or a model file its library refuses."""

    def __init__(self, folder: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"model package {folder}: {problem}",
            hint=hint
            or "save it again with rigml.registry.save_model, or wrap the raw model file "
            "with `rig models register RUN --artifact FILE`",
        )
        self.folder, self.problem = folder, problem


class UnknownFlavor(InvalidInput):
    """No flavor fits a model object or a model file, or a name no flavor has."""

    def __init__(self, what: str, known: list[str], *, hint: str | None = None) -> None:
        super().__init__(
            f"cannot tell the flavor of {what}",
            hint=hint or f"name it with --flavor (flavor=...): one of {', '.join(known)}",
        )
        self.what, self.known = what, known


class UntrustedModel(RigError):
    """Loading would run code from the package: pickle, or skops types outside the allowlist.

    Refused before a byte is unpickled; ``types`` lists the untrusted skops types, if any.
    """

    def __init__(self, folder: str, reason: str, *, types: list[str] | None = None) -> None:
        super().__init__(
            f"refusing to load the model in {folder}: {reason}",
            hint="load it only if you trust where it came from: trusted=True "
            "(`--trusted` on the command line)",
        )
        self.folder, self.reason, self.types = folder, reason, list(types or [])


class FlavorUnavailable(MissingExtra):
    """The library a model package's flavor needs is not installed here."""

    def __init__(
        self, flavor: str, library: str, *, extra: str | None, saved_with: str | None
    ) -> None:
        pin = f"{library}=={saved_with}" if saved_with else library
        RigError.__init__(
            self,
            f"this {flavor} model needs {library}"
            + (f" (it was saved with {saved_with})" if saved_with else "")
            + ", which is not installed",
            hint=f"pip install 'rigml[{extra}]' (or '{pin}')" if extra else f"pip install '{pin}'",
        )
        self.extra = extra or flavor
        self.flavor, self.library, self.saved_with = flavor, library, saved_with


class SignatureMismatch(InvalidInput):
    """Input data that does not fit a model's signature: columns, types or shape."""

    def __init__(self, problem: str, *, hint: str) -> None:
        super().__init__(f"input does not match the model's signature: {problem}", hint=hint)
        self.problem = problem


class ModelEnvironmentWarning(UserWarning):
    """The library (or Python) here differs from the one the model package was saved with."""


# -- serving: rig serve (the service, its limits and tokens) ---------------------------------


class InvalidServeConfig(InvalidInput):
    """A serving setting that cannot work: a bad model reference, limit or arm share."""

    def __init__(self, problem: str, *, hint: str) -> None:
        super().__init__(f"cannot serve: {problem}", hint=hint)
        self.problem = problem


class UnsafeBind(InvalidInput):
    """A non-loopback address without ``--host`` given explicitly."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"refusing to listen on {host}: it is not a loopback address",
            hint=f"pass --host {host} explicitly to serve beyond this machine "
            "(and consider --token-file)",
        )
        self.host = host


class InvalidTokenFile(InvalidInput):
    """A ``--token-file`` that cannot be read or holds no token."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(
            f"token file {path}: {problem}",
            hint="write one bearer token a line (at least 16 characters each)",
        )
        self.path, self.problem = path, problem


# -- serve: the prediction log, feedback and batch prediction -------------------------------


class InvalidPredictionQuery(InvalidInput):
    """A filter of the prediction log that cannot be read: a time, a column, a limit."""

    def __init__(self, what: str, problem: str, *, hint: str) -> None:
        super().__init__(f"{what}: {problem}", hint=hint)
        self.what, self.problem = what, problem


class InvalidFeedback(InvalidInput):
    """Feedback that cannot be stored: no request id, or a value that is not JSON."""

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"feedback {problem}",
            hint="give the request id a prediction answered with and a JSON value "
            '(a label, a number, or an object such as {"label": 1})',
        )
        self.problem = problem


class BadBatchInput(BadDataFile):
    """A batch input file that cannot be read or scored, located by chunk and line."""

    def __init__(
        self, path: str, problem: str, *, chunk: int | None = None, line: int | None = None
    ) -> None:
        where = f"chunk {chunk}: " if chunk is not None else ""
        super().__init__(
            path,
            where + problem,
            line=line,
            hint="fix the file (every row needs the model's input columns); "
            "nothing was written to the output",
        )
        self.chunk = chunk


# -- serve: rollout controls (rig serve status / canary) --------------------------------------


class ServiceRequestFailed(RigError):
    """``rig serve status`` or ``canary`` could not get an answer from a running service."""

    def __init__(self, url: str, problem: str, *, hint: str) -> None:
        super().__init__(f"the service at {url}: {problem}", hint=hint)
        self.url, self.problem = url, problem


# -- serve: exporting a service as a self-contained folder (rig serve --export) -------------


class ExportTargetExists(Conflict):
    """``rig serve --export DIR`` where DIR already holds files."""

    def __init__(self, dest: str) -> None:
        super().__init__(
            f"{dest} already exists and is not an empty folder; nothing was written",
            hint="choose a new folder, or add --force to replace it",
        )
        self.dest = dest


class ServiceExportFailed(RigError):
    """A step of an export that failed: building rigml's wheel, reading an exported folder."""

    def __init__(self, step: str, problem: str, *, hint: str) -> None:
        super().__init__(f"{step}: {problem}", hint=hint)
        self.step, self.problem = step, problem


# -- serve: batch prediction on Ray (rig predict --executor ray) -----------------------------


class BatchWorkerFailed(RigError):
    """A Ray worker of ``rig predict --executor ray`` could not load the model, or died."""

    def __init__(self, what: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"a Ray worker {what}: {problem}",
            hint=hint
            or "every Ray node needs rigml and the model's library installed; see the "
            "worker's log (`ray logs`); nothing was written to the output",
        )
        self.what, self.problem = what, problem
