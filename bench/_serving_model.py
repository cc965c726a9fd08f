"""The serving benchmark's model, made inside a peer's virtualenv (no rigml there).

    python _serving_model.py joblib OUT.joblib
    python _serving_model.py mlflow STORE_DIR

Each side fits the same LogisticRegression (make_classification 2000x4, 3 informative, no
redundant, seed 0) with the same pinned scikit-learn, so every server holds one model.
``joblib`` (BentoML) fits on the bare array, as BentoML's ndarray input hands it one;
``mlflow`` fits on a DataFrame with columns f0..f3, the named columns MLflow's
``dataframe_split`` carries, and logs it with ``mlflow.sklearn.log_model`` into a local
file store. Prints one JSON line: where the model is, and the first row's prediction.
"""

from __future__ import annotations

import json
import sys
from typing import Any

N_SAMPLES, N_FEATURES, N_INFORMATIVE, SEED = 2000, 4, 3, 0
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]


def data() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=N_SAMPLES,
        n_features=N_FEATURES,
        n_informative=N_INFORMATIVE,
        n_redundant=0,
        random_state=SEED,
    )


def fit(X: Any, y: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, random_state=SEED).fit(X, y)


def save_joblib(out: str) -> dict[str, Any]:
    import joblib

    X, y = data()
    model = fit(X, y)
    joblib.dump(model, out)
    return {"path": out, "first": int(model.predict(X[:1])[0])}


def log_mlflow(store: str) -> dict[str, Any]:
    import mlflow
    import pandas as pd

    X, y = data()
    frame = pd.DataFrame(X, columns=COLUMNS)
    model = fit(frame, y)
    mlflow.set_tracking_uri(f"file:{store}")
    mlflow.set_experiment("serving-bench")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=frame.iloc[:5])
    local = mlflow.artifacts.download_artifacts(info.model_uri)
    return {"path": local, "uri": info.model_uri, "first": int(model.predict(frame.iloc[:1])[0])}


if __name__ == "__main__":
    kind, where = sys.argv[1], sys.argv[2]
    result = save_joblib(where) if kind == "joblib" else log_mlflow(where)
    print(json.dumps(result))
