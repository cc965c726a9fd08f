"""The quickstart: a lab, generated data, a few tracked training runs, and their comparison,
then the data as a versioned dataset and a small pipeline (rig.yaml) over it, with gates.

It runs entirely offline on data it makes, so ``make demo`` works on a fresh machine.
Later capabilities extend it; each step is a plain call into a service.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigml.errors import MissingExtra

GRID = [  # (alpha, eta0): regularisation and learning rate of an SGD logistic regression
    (1e-4, 0.0005),
    (1e-4, 0.005),
    (5e-2, 0.0005),
    (5e-2, 0.005),
]
EPOCHS = 2
BATCH = 150  # rows per step: the curves show learning, not one converged jump


@dataclass
class QuickstartResult:
    lab_path: Path
    run_ids: list[str]
    best_run: str
    plot: Path | None
    comparison: Any = None
    machine: Any = None  # MachineProfile of this machine
    doctor: Any = None  # DoctorReport of this machine
    notes: list[str] = field(default_factory=list)
    data: Any = None  # DataStep: the generated table as a dataset version and its check
    fit: list[Any] = field(default_factory=list)  # FitReports: popular models on this machine
    placement: Any = None  # PlacementStep: rig plan for two workloads, rig cost break-even
    root: Path | None = None  # the folder worked in (the lab is root/.rig)
    pipeline: Any = None  # PipelineStep: rig.yaml run, rerun unchanged, rerun after a param
    registry: Any = None  # RegistryStep: the best candidate registered, promoted, traced
    serving: Any = None  # ServingStep: churn@production over HTTP, its prediction log


def run_quickstart(
    path: str | os.PathLike[str] | None = None,
    *,
    progress: Callable[[str], None] = lambda _msg: None,
) -> QuickstartResult:
    """Create a lab under ``path``, track a small sweep, and run a small pipeline.

    Without ``path`` the work happens in a new temporary folder that the caller owns
    (``result.root``); ``rig quickstart`` removes it afterwards unless told ``--keep``.

    Raises:
        MissingExtra: scikit-learn is not installed (``rigml[demo]``).
    """
    _require_demo()
    profile, report = _machine_step(progress)
    fit = _fit_step()
    progress(
        "fit: "
        + "; ".join(f"{r.model.name} {r.request.task}: {r.primary.verdict.label}" for r in fit)
    )
    root = Path(path) if path is not None else Path(tempfile.mkdtemp(prefix="rig-quickstart-"))
    from rigml.lab import init_lab

    lab, _ = init_lab(root / ".rig")
    progress(f"lab at {lab.path}")
    data = _generate(root)
    progress(f"generated {len(data.X)} rows x {data.X.shape[1]} features")
    scores = _sweep(lab, root, data, progress)
    ids = list(scores)
    result = QuickstartResult(
        lab_path=lab.path,
        run_ids=ids,
        best_run=max(scores, key=lambda k: scores[k]),
        plot=None,
        machine=profile,
        doctor=report,
        fit=fit,
        root=root,
    )
    _later_steps(result, lab, root, data, progress)
    return result


def _require_demo() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise MissingExtra("demo", module="scikit-learn") from exc


def _machine_step(progress: Callable[[str], None]) -> tuple[Any, Any]:
    """What this machine is (rig machine) and what is wrong with it (rig doctor)."""
    from rigml.machine.doctor import run_checks
    from rigml.machine.inventory import inventory
    from rigml.machine.profile import classify

    profile = classify(inventory())
    progress(f"this machine: {profile.archetype} ({profile.reason})")
    report = run_checks()
    counts = ", ".join(f"{n} {s}" for s, n in report.counts.items() if n)
    progress(f"doctor: {counts}")
    return profile, report


@dataclass(frozen=True)
class _Data:
    """The generated classification table, its split, and the file it is saved in."""

    X: Any
    y: Any
    X_tr: Any
    X_va: Any
    y_tr: Any
    y_va: Any
    file: Path


def _generate(root: Path) -> _Data:
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(
        n_samples=6000, n_features=20, n_informative=8, class_sep=0.8, random_state=7
    )
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, random_state=7)
    data_file = root / "churn.npz"
    np.savez_compressed(data_file, X=X, y=y)
    return _Data(X, y, X_tr, X_va, y_tr, y_va, data_file)


def _sweep(lab: Any, root: Path, data: _Data, progress: Callable[[str], None]) -> dict[str, float]:
    """One tracked run per GRID point; the validation accuracy of each, by run id."""
    scores: dict[str, float] = {}
    for alpha, eta0 in GRID:
        run, acc = _train(lab, root, data, alpha, eta0)
        scores[run.id] = acc
        progress(f"run {run.name} ({run.id[:8]}) alpha={alpha} eta0={eta0}: val/acc={acc:.3f}")
    return scores


def _train(lab: Any, root: Path, data: _Data, alpha: float, eta0: float) -> tuple[Any, float]:
    """Train an SGD logistic regression in mini-batches, logging a curve and the model."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import accuracy_score, log_loss

    from rigml.track.runs import start_run

    params = {
        "model": "sgd-logreg",
        "alpha": alpha,
        "eta0": eta0,
        "epochs": EPOCHS,
        "batch": BATCH,
    }
    tags = {"dataset": "churn-synthetic"}
    with start_run(lab, experiment="quickstart", params=params, tags=tags) as run:
        clf = SGDClassifier(
            loss="log_loss", alpha=alpha, learning_rate="constant", eta0=eta0, random_state=0
        )
        step = 0
        for _epoch in range(EPOCHS):
            for start in range(0, len(data.X_tr), BATCH):
                xb, yb = data.X_tr[start : start + BATCH], data.y_tr[start : start + BATCH]
                clf.partial_fit(xb, yb, classes=[0, 1])
                metrics = {
                    "train/loss": log_loss(yb, clf.predict_proba(xb), labels=[0, 1]),
                    "val/loss": log_loss(data.y_va, clf.predict_proba(data.X_va)),
                    "val/acc": accuracy_score(data.y_va, clf.predict(data.X_va)),
                }
                run.log(metrics, step=step)
                step += 1
        model_file = root / f"model-{run.id[:8]}.npz"
        np.savez(model_file, coef=clf.coef_, intercept=clf.intercept_)
        run.log_artifact(model_file, name="model.npz")
        run.log_artifact(data.file, name="data/churn.npz")  # stored once for all runs
        acc = float(accuracy_score(data.y_va, clf.predict(data.X_va)))
        run.set_tags({"quality": "good" if acc > 0.8 else "weak"})
    return run, acc


def _later_steps(
    result: QuickstartResult, lab: Any, root: Path, data: _Data, progress: Callable[[str], None]
) -> None:
    """Versioned data, placement and cost, the comparison and the plot, into ``result``."""
    from rigml.track.compare import compare_runs

    ids = result.run_ids
    try:
        result.data = _data_step(lab, root, data.X, data.y, ids)
        progress(f"dataset {result.data.version.ref}: {result.data.report.checks} checks pass")
    except MissingExtra as exc:
        result.notes.append(f"no data step: {exc.message} ({exc.hint})")
    if result.data is not None:  # the pipeline reads the dataset version and its contract
        result.pipeline = _pipeline_step(lab, root, result.data, progress)
        result.registry = _registry_step(lab, root, result.pipeline, progress)
        result.serving = _serve_step(lab, root, result, progress)
    else:
        result.notes.append("no pipeline step: it reads the dataset the data step adds")
    result.placement = _placement_step(lab)
    progress(f"plan: {result.placement.plan.decision}; {result.placement.tco.conclusion}")
    result.comparison = compare_runs(lab, ids)
    try:
        from rigml.track.plot import plot_runs

        result.plot = plot_runs(lab, ids, ["val/acc", "train/loss"], root / "quickstart.png")
    except MissingExtra as exc:
        result.notes.append(f"no plot: {exc.message} ({exc.hint})")


# What fits: popular models against this machine's GPUs (or RAM), and against a 24 GiB card.
FIT_CASES: list[tuple[str, dict[str, Any]]] = [
    ("qwen2.5-7b", {"quant": "Q4_K_M", "context": 8192}),
    ("llama-3.1-8b", {"task": "qlora", "gradient_checkpointing": True}),
    ("llama-3.1-8b", {"task": "full"}),
    ("llama-3.1-70b", {"quant": "awq-4bit"}),
]


def _fit_step() -> list[Any]:
    from rigml.fit.planner import plan_fit, resolve_targets
    from rigml.fit.request import FitRequest

    here = resolve_targets()
    reports = []
    for model, options in FIT_CASES:
        targets = [*here, *resolve_targets(gpu="RTX 4090")]
        reports.append(plan_fit(model, FitRequest(**options), targets=targets))
    return reports


# -- data step: the generated table as a versioned dataset with a contract ---------------------


@dataclass
class DataStep:
    version: Any  # VersionInfo of churn@N
    contract_path: Path
    report: Any  # CheckReport of the contract against the version


def _data_step(lab: Any, root: Path, X: Any, y: Any, run_ids: list[str]) -> DataStep:
    """Add the generated rows as a dataset, record that the runs read it, infer and check
    a contract. Uses ``rig data`` services only; needs the data extra (pyarrow, pandera)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pcsv
    except ImportError as exc:
        raise MissingExtra("data", module="pyarrow") from exc
    from rigml.data import add, check, contract_to_yaml, infer_contract, use_dataset

    folder = root / "data"
    folder.mkdir(exist_ok=True)
    columns = {f"f{i:02d}": X[:, i] for i in range(X.shape[1])}
    columns["churned"] = y
    pcsv.write_csv(pa.table(columns), folder / "churn.csv")
    added = add(lab, folder, name="churn", message="quickstart: generated rows")
    for run_id in run_ids:  # the sweep trained on exactly these rows
        use_dataset(lab, run_id, added.version.ref)
    contract = infer_contract(lab, added.version.ref)
    contract_path = root / "churn.contract.yaml"
    contract_path.write_text(contract_to_yaml(contract), encoding="utf-8")
    report = check(lab, added.version.ref, contract)
    return DataStep(added.version, contract_path, report)


# -- placement step: rig plan for two workloads and rig cost's break-even (offline) -----------


@dataclass
class PlacementStep:
    plan: Any  # Plan for a coding assistant and weekly LoRA fine-tuning
    tco: Any  # TcoReport: this machine's GPU (or an RTX 4090) against the cloud


def _placement_step(lab: Any) -> PlacementStep:
    """Plan two workloads on this machine and price a GPU against the cloud; catalogue
    figures only, so it runs offline in well under a second."""
    from rigml.plan.energy import machine_gpus
    from rigml.plan.staged import make_plan
    from rigml.plan.tco import TcoInputs, tco_report
    from rigml.plan.workloads import parse_flag

    plan = make_plan(
        [parse_flag("coding-assistant:daily"), parse_flag("lora-finetune:weekly")], lab=lab
    )
    gpu = None if machine_gpus(None) else "RTX 4090"
    return PlacementStep(plan, tco_report(TcoInputs(gpu=gpu, utilisation=0.25), lab=lab))


# -- pipeline step: rig.yaml, rig run, a rerun that runs nothing, a param change -------------


@dataclass
class PipelineStep:
    """What ``rig run`` did three times over the quickstart's project (``root/pipeline``)."""

    rig_yaml: Path
    first: Any  # RunReport: every stage ran
    unchanged: list[Any]  # StageStatus of each stage before the second run: all up to date
    second: Any  # RunReport: nothing ran
    change: str  # "train.C: 1.0 -> 0.05"
    plan: list[Any]  # StageStatus after the change: what will rerun, and why
    third: Any  # RunReport: train and what reads it reran
    gates: Any  # GateReport of the gate stage's newest run, as stored
    sweep: Any = None  # SweepReport: a grid over train.C, each trial a tracked run

    @property
    def reran(self) -> list[str]:
        return [s.name for s in self.third.stages if s.action == "ran"]


def _sweep_step(lab: Any, pipeline: Any, progress: Callable[[str], None]) -> Any:
    """``rig sweep train --param train.C=... --metric val_auc --sampler grid --jobs 2``."""
    from rigml._quickstart_project import SWEEP_METRIC, SWEEP_PARAM
    from rigml.pipeline import SweepConfig, run_sweep

    config = SweepConfig(
        stage="train",
        params=(SWEEP_PARAM,),
        metric=SWEEP_METRIC,
        direction="max",
        sampler="grid",
        jobs=2,
        name="quickstart-c",
    )
    report = run_sweep(lab, pipeline, config)
    best = report.best
    if best is not None:
        progress(f"rig sweep train: {len(report.trials)} trials, best {best.params}")
    return report


def _pipeline_step(
    lab: Any, root: Path, data: DataStep, progress: Callable[[str], None]
) -> PipelineStep:
    """Write a small project (params.yaml, rig.yaml, one script per stage) and run it: all
    stages, then again with nothing changed (nothing runs), then after one param change
    (only the stages downstream of it run). The gate stage's gates are judged each time."""
    from rigml._quickstart_project import change_param, write_project
    from rigml.gates import latest_gate_report
    from rigml.pipeline import load_pipeline, pipeline_status, run_pipeline

    rig_yaml = write_project(root / "pipeline", data.contract_path)
    first = run_pipeline(lab, load_pipeline(rig_yaml), jobs=2)
    progress("rig run: " + ", ".join(f"{s.name} {s.action}" for s in first.stages))
    pipeline = load_pipeline(rig_yaml)
    unchanged = pipeline_status(lab, pipeline)
    second = run_pipeline(lab, pipeline, jobs=2)
    ran = [s.name for s in second.stages if s.action == "ran"]
    progress(f"rig run again, nothing changed: {len(ran)} stages ran")
    change = change_param(rig_yaml.parent)
    pipeline = load_pipeline(rig_yaml)
    plan = pipeline_status(lab, pipeline)
    third = run_pipeline(lab, pipeline, jobs=2)
    sweep = _sweep_step(lab, pipeline, progress)
    gate_run = next(s for s in third.stages if s.name == "gate").gates
    step = PipelineStep(rig_yaml, first, unchanged, second, change, plan, third, None, sweep)
    step.gates = latest_gate_report(lab, gate_run.run_id) if gate_run is not None else None
    progress(f"changed {change}: reran {', '.join(step.reran)}")
    return step


def _serve_step(
    lab: Any, root: Path, result: QuickstartResult, progress: Callable[[str], None]
) -> Any:
    """``rig serve churn@production``: requests over HTTP, feedback, the prediction log."""
    import numpy as np

    try:
        from rigml._quickstart_serve import serving_step

        valid = np.load(root / "pipeline" / "prepared" / "valid.npz")
        step = serving_step(lab, valid["X"], valid["y"])
    except MissingExtra as exc:
        result.notes.append(f"no serving step: {exc.message} ({exc.hint})")
        return None
    progress(f"rig serve: {step.requests} requests, {step.logged} predictions logged")
    return step


# -- registry step: the best gated candidate registered, promoted twice, traced, audited -----


@dataclass
class RegistryStep:
    """The gate stage's best run as churn@N, moved to staging then production."""

    version: Any  # ModelVersion
    promotions: list[Any]  # Promotion to staging, then to production
    lineage: Any  # Lineage of churn@production
    diagram: Path | None  # lineage.png (None without matplotlib)
    mermaid: Path  # lineage.mmd
    audit: Any  # VerifyReport of the whole audit log
    predictions: list[int]  # churn@production's answers for three validation rows


def _registry_step(
    lab: Any, root: Path, step: PipelineStep, progress: Callable[[str], None]
) -> RegistryStep:
    """Register the gate stage's best run, promote it (the stage's gates re-judged against
    the registry each time), trace its lineage and verify the audit log."""
    import numpy as np

    from rigml.audit import verify
    from rigml.registry import lineage, load_model, promote, register_artifact, to_mermaid
    from rigml.track.queries import get_run

    runs = [s.run_id for s in (*step.first.stages, *step.third.stages) if s.name == "gate"]
    best = max((get_run(lab, r) for r in runs if r), key=lambda r: r.metrics["auc"])
    version = register_artifact(lab, best.id, "release/model", name="churn")
    promotions = [
        promote(lab, "churn", version.version, to=alias, reason=why)
        for alias, why in (("staging", "best gated candidate"), ("production", "staging ok"))
    ]
    progress(f"registered {version.ref}; promoted to staging, then production")
    lin = lineage(lab, "churn@production")
    mermaid = root / "lineage.mmd"
    mermaid.write_text(to_mermaid(lin.graph()), encoding="utf-8")
    diagram: Path | None = root / "lineage.png"
    try:
        from rigml.registry import render_png

        render_png(lin.graph(), root / "lineage.png")
    except MissingExtra:
        diagram = None
    valid = np.load(root / "pipeline" / "prepared" / "valid.npz")["X"][:3]
    answers = [int(v) for v in load_model(lab, "churn@production").predict(valid)]
    return RegistryStep(version, promotions, lin, diagram, mermaid, verify(lab), answers)
