"""Versions: numbering, references, listing, loading, downloading, and what is refused."""

from __future__ import annotations

import numpy as np
import pytest

import rigml
from rigml.errors import (
    CheckoutTargetExists,
    InvalidInput,
    InvalidModelRef,
    ModelInUse,
    ModelNotFound,
    NotFound,
    ObjectCorrupted,
)
from rigml.registry import (
    download_model,
    get_version,
    list_models,
    list_versions,
    load_model,
    register_artifact,
    version_files,
)
from rigml.track.delete import delete_runs
from rigml.track.runs import start_run

from .conftest import QUIET


def test_versions_are_numbered_per_model_and_listed(lab, make_version) -> None:
    a1, a2 = make_version(0.8), make_version(0.9)
    b1 = make_version(0.7, name="vision/resnet")
    assert (a1.ref, a2.ref, b1.ref) == ("churn@1", "churn@2", "vision/resnet@1")
    assert a1.flavor == "sklearn" and a1.run_id and a1.source == "models/churn"
    summary = {m.name: m for m in list_models(lab)}
    assert summary["churn"].versions == 2 and summary["churn"].latest == 2
    assert [v.version for v in list_versions(lab, "churn")] == [2, 1]
    assert a1.fingerprint != "" and a1.size > 0
    assert "rigmodel.json" in {f.path for f in version_files(lab, a1)}


@pytest.mark.parametrize(("ref", "version"), [("churn", 2), ("churn@latest", 2),
                                              ("churn@1", 1), ("churn@v1", 1)])  # fmt: skip
def test_references_resolve(lab, make_version, ref, version) -> None:
    make_version(0.8), make_version(0.9)
    assert get_version(lab, ref).version == version


def test_unknown_names_versions_and_aliases_say_what_exists(lab, make_version) -> None:
    make_version()
    with pytest.raises(ModelNotFound, match="no such model") as exc:
        get_version(lab, "chrun@1")
    assert "churn" in (exc.value.hint or "")
    with pytest.raises(ModelNotFound, match="versions 1 to 1"):
        get_version(lab, "churn@7")
    with pytest.raises(ModelNotFound, match="no version holds alias 'production'"):
        get_version(lab, "churn@production")


@pytest.mark.parametrize("ref", ["", "churn@", "churn@1@2", "../x@1", "a b"])
def test_malformed_references_are_refused(lab, ref) -> None:
    with pytest.raises(InvalidModelRef):
        get_version(lab, ref)


def test_a_malformed_name_registers_nothing(lab, classifier, dataset) -> None:
    with start_run(lab, **QUIET) as run, pytest.raises(InvalidInput, match="model names"):
        run.log_model(classifier, name="bad@name")
    assert list_models(lab) == []


def test_load_model_predicts_like_the_original(lab, make_version, classifier, dataset) -> None:
    X, _ = dataset
    make_version()
    model = rigml.load_model("churn@1", lab=lab)
    np.testing.assert_array_equal(model.predict(X), classifier.predict(X))
    np.testing.assert_allclose(model.predict_proba(X), classifier.predict_proba(X))
    again = load_model(lab, "churn")  # from the lab's cache this time
    np.testing.assert_array_equal(again.predict(X[:3]), classifier.predict(X[:3]))


def test_a_corrupted_object_is_detected_by_its_hash(lab, make_version) -> None:
    version = make_version()
    skops = next(f for f in version_files(lab, version) if f.path != "rigmodel.json")
    path = lab.objects._local_path(skops.object)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ObjectCorrupted):
        load_model(lab, "churn@1")


def test_download_writes_the_package_and_refuses_a_full_folder(lab, make_version, tmp_path):
    make_version()
    out = download_model(lab, "churn@1", tmp_path / "pkg")
    assert (out / "rigmodel.json").is_file()
    with pytest.raises(CheckoutTargetExists):
        download_model(lab, "churn@1", out)
    assert (download_model(lab, "churn@1", out, force=True) / "rigmodel.json").is_file()


def test_register_a_runs_artifact_file(lab, classifier, tmp_path) -> None:
    import skops.io

    file = tmp_path / "model.skops"
    skops.io.dump(classifier, file)
    with start_run(lab, **QUIET) as run:
        run.log_artifact(file, name="out/model.skops")
    version = register_artifact(lab, run.id, "out/model.skops", name="churn")
    assert (version.ref, version.flavor, version.source) == (
        "churn@1",
        "sklearn",
        "out/model.skops",
    )
    with pytest.raises(NotFound, match="no artifact") as exc:
        register_artifact(lab, run.id, "out/missing.onnx", name="churn")
    assert "out/model.skops" in (exc.value.hint or "")


def test_register_a_runs_package_folder(lab, make_version) -> None:
    first = make_version()
    again = register_artifact(lab, first.run_id, "models/churn", name="copy")
    assert again.fingerprint == first.fingerprint and again.ref == "copy@1"


def test_a_run_that_made_a_version_cannot_be_deleted(lab, make_version) -> None:
    version = make_version()
    with pytest.raises(ModelInUse, match="churn@1"):
        delete_runs(lab, [version.run_id])
    assert get_version(lab, "churn@1").run_id == version.run_id


def test_a_package_folder_with_swapped_content_is_refused(lab, make_version, tmp_path) -> None:
    from rigml.errors import InvalidModelPackage

    first = make_version()
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not the model")
    with start_run(lab, **QUIET) as run:
        for f in version_files(lab, first):
            lab.objects.get_file(f.object, tmp_path / f.path)
            run.log_artifact(tmp_path / f.path, name=f"pkg/{f.path}")
        run.log_artifact(junk, name="pkg/model.skops")
    with pytest.raises(InvalidModelPackage, match=r"holds other content for model\.skops"):
        register_artifact(lab, run.id, "pkg", name="swapped")
    assert [m.name for m in list_models(lab)] == ["churn"]


def test_a_missing_object_is_a_clear_error(lab, make_version) -> None:
    import shutil

    from rigml.errors import ObjectNotFound
    from rigml.registry._load import cache_root

    version = make_version()
    load_model(lab, "churn@1")  # cached
    shutil.rmtree(cache_root(lab))
    model_file = next(f for f in version_files(lab, version) if f.path != "rigmodel.json")
    lab.objects._local_path(model_file.object).unlink()
    with pytest.raises(ObjectNotFound):
        load_model(lab, "churn@1")


def test_a_tampered_cache_is_rebuilt_from_the_objects(lab, make_version, dataset) -> None:
    from rigml.registry._load import cache_root

    version = make_version()
    load_model(lab, "churn@1")
    cached = next(p for p in (cache_root(lab) / version.fingerprint).iterdir()
                  if p.name != "rigmodel.json")  # fmt: skip
    cached.write_bytes(b"x" * cached.stat().st_size)  # same size: only the hash tells
    X, _ = dataset
    assert load_model(lab, "churn@1").predict(X[:2]).shape == (2,)
