"""The quickstart's small project: ``params.yaml``, ``rig.yaml`` and one script per stage.

Kept apart from :mod:`rigml.quickstart` because it is text, not logic. The scripts read
the churn dataset version the quickstart added (``data:churn@latest``, checked out for
the stage at ``$RIG_DATA_CHURN``), so nothing is downloaded; each one imports only what
it needs, because every stage is a process of its own.
"""

from __future__ import annotations

import sys
from pathlib import Path

PARAMS = """\
prepare:
  valid_fraction: 0.25
  seed: 7
train:
  C: 1.0
  max_iter: 300
"""

CHANGED_PARAM = ("train.C", 1.0, 0.05)  # the quickstart's second run changes this one
# the quickstart's sweep: rig sweep train --param train.C=... --metric val_auc --sampler grid
SWEEP_PARAM = "train.C=0.01,0.1,1,10"
SWEEP_METRIC = "val_auc"

PIPELINE = """\
# rig.yaml: from the churn dataset to a gated release candidate
name: quickstart-pipeline
stages:
  prepare:
    desc: split the churn table into train and validation rows
    cmd: {py} prepare.py
    deps: [prepare.py, "data:churn@latest"]
    params: [prepare.valid_fraction, prepare.seed]
    outs: [prepared]
  validate:
    desc: check the dataset version against its contract
    cmd: {py} validate.py
    deps: [validate.py, churn.contract.yaml, "data:churn@latest"]
    metrics: [validation.json]
  train:
    desc: fit a logistic regression with the params of params.yaml
    cmd: {py} train.py
    deps: [train.py, auc.py, prepared/train.npz, prepared/valid.npz, validation.json]
    params: [train.C, train.max_iter]
    outs: [model.npz]
    metrics: [train.json]
  evaluate:
    desc: score the validation rows, overall and by slice
    cmd: {py} evaluate.py
    deps: [evaluate.py, auc.py, model.npz, prepared/valid.npz]
    metrics: [metrics.json]
  gate:
    desc: the release candidate, packaged for the registry; its gates decide its promotion
    cmd: {py} release.py
    deps: [release.py, model.npz, metrics.json, prepared/valid.npz]
    outs: [release/model]
    metrics: [release/metrics.json]
    registry: churn  # "production" in the gates: the version of churn holding that alias
    gates:
      - metrics.auc >= 0.7
      - slices(metrics.auc, by=f00) >= overall - 0.1
      - rule: metrics.auc >= production - 0.02
        name: no regression
"""

PREPARE = """\
import os, pathlib, yaml
import numpy as np
p = yaml.safe_load(open("params.yaml"))["prepare"]
table = np.loadtxt(pathlib.Path(os.environ["RIG_DATA_CHURN"]) / "churn.csv",
                   delimiter=",", skiprows=1)
X, y = table[:, :-1], table[:, -1].astype(int)
order = np.random.default_rng(p["seed"]).permutation(len(y))
cut = int(len(y) * (1 - p["valid_fraction"]))
pathlib.Path("prepared").mkdir(exist_ok=True)
np.savez("prepared/train.npz", X=X[order[:cut]], y=y[order[:cut]])
np.savez("prepared/valid.npz", X=X[order[cut:]], y=y[order[cut:]])
print(f"prepared {cut} training and {len(y) - cut} validation rows")
"""

VALIDATE = """\
import json, os, sys
import rigml.data
from rigml.lab import open_lab
lab = open_lab(os.environ["RIG_LAB"])
report = rigml.data.check(lab, "churn@latest", rigml.data.load_contract("churn.contract.yaml"))
json.dump({"checks": report.checks, "failed": report.failed, "rows": report.rows},
          open("validation.json", "w"))
print(f"{report.ref}: {report.checks - report.failed} of {report.checks} checks pass")
lab.close()
sys.exit(0 if report.passed else 1)
"""

AUC = """\
import numpy as np
def auc(y, score):  # the rank statistic (scores are continuous: no ties to share)
    ranks = np.empty(len(score))
    ranks[np.argsort(score)] = np.arange(1, len(score) + 1)
    pos = y == 1
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())
"""

# L2-regularised logistic regression by gradient descent in numpy: a trial of the sweep is
# a process of its own, and importing scikit-learn would cost more than the fit.
TRAIN = """\
import json
import numpy as np
import yaml
from auc import auc
p = yaml.safe_load(open("params.yaml"))["train"]
data, valid = np.load("prepared/train.npz"), np.load("prepared/valid.npz")
X, y = data["X"], data["y"]
mu, sd = X.mean(axis=0), X.std(axis=0) + 1e-9
Z, w, b = (X - mu) / sd, np.zeros(X.shape[1]), 0.0
for _ in range(p["max_iter"]):  # C as in scikit-learn: the penalty is |w|^2 / 2C
    g = 1 / (1 + np.exp(-(Z @ w + b))) - y
    w -= 0.5 * (Z.T @ g + w / p["C"]) / len(y)
    b -= 0.5 * g.mean()
coef, intercept = w / sd, b - (mu / sd) @ w
np.savez("model.npz", coef=coef, intercept=np.array([intercept]))
val_auc = auc(valid["y"], valid["X"] @ coef + intercept)
json.dump({"val_auc": round(float(val_auc), 6)}, open("train.json", "w"))
print(f"trained with C={p['C']}: validation auc {val_auc:.3f}")
"""

EVALUATE = """\
import json
import numpy as np
from auc import auc
model, data = np.load("model.npz"), np.load("prepared/valid.npz")
X, y = data["X"], data["y"]
score = 1 / (1 + np.exp(-(X @ model["coef"] + model["intercept"][0])))
metrics = {"auc": auc(y, score), "accuracy": np.mean((score > 0.5) == y)}
for name, rows in (("high", X[:, 0] > 0), ("low", X[:, 0] <= 0)):  # slices: f00's sign
    metrics[f"slice/f00/{name}/auc"] = auc(y[rows], score[rows])
json.dump({k: round(float(v), 6) for k, v in metrics.items()}, open("metrics.json", "w"))
print(f"auc {metrics['auc']:.3f}")
"""

# The trained weights as a scikit-learn estimator, packaged with skops and a signature
# inferred from validation rows: what `rig models register` and `rig serve` read.
RELEASE = """\
import pathlib, shutil
import numpy as np
from sklearn.linear_model import LogisticRegression
from rigml.registry import save_model
weights, valid = np.load("model.npz"), np.load("prepared/valid.npz")
clf = LogisticRegression()
clf.classes_ = np.array([0, 1])
clf.coef_, clf.intercept_ = weights["coef"][None, :], weights["intercept"]
clf.n_features_in_ = clf.coef_.shape[1]
shutil.rmtree("release", ignore_errors=True)
save_model(clf, pathlib.Path("release/model"), example=valid["X"][:5])
shutil.copyfile("metrics.json", "release/metrics.json")
print("release candidate in release/model")
"""

SCRIPTS = {
    "auc.py": AUC,
    "prepare.py": PREPARE,
    "validate.py": VALIDATE,
    "train.py": TRAIN,
    "evaluate.py": EVALUATE,
    "release.py": RELEASE,
}


def write_project(folder: Path, contract: Path) -> Path:
    """Write the project into ``folder`` (created); returns its ``rig.yaml``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(PARAMS, encoding="utf-8")
    for name, text in SCRIPTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "churn.contract.yaml").write_bytes(contract.read_bytes())
    py = _quoted(sys.executable)
    rig_yaml = folder / "rig.yaml"
    rig_yaml.write_text(PIPELINE.format(py=py), encoding="utf-8")
    return rig_yaml


def change_param(folder: Path) -> str:
    """Set :data:`CHANGED_PARAM` in ``params.yaml``; returns ``"train.C: 1.0 -> 0.05"``."""
    key, old, new = CHANGED_PARAM
    file = folder / "params.yaml"
    text = file.read_text(encoding="utf-8")
    leaf = key.rsplit(".", 1)[1]
    file.write_text(text.replace(f"  {leaf}: {old}\n", f"  {leaf}: {new}\n"), encoding="utf-8")
    return f"{key}: {old} -> {new}"


def _quoted(path: str) -> str:
    """The interpreter's path, quoted for the shell and for YAML when it holds a space."""
    return f"'\"{path}\"'" if " " in path else path
