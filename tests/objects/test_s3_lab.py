"""A lab whose objects live on S3 (moto's server): configured in rig.toml, used by a run."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec

from rigml.lab import init_lab, open_lab
from rigml.objects import hash_file
from rigml.track.artifacts import download_artifact, list_artifacts
from rigml.track.runs import start_run


def test_a_tracked_run_stores_and_reads_back_artifacts_on_s3(
    tmp_path: Path, s3_bucket, quiet_run_kwargs
) -> None:
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    (lab_dir / "rig.toml").write_text(
        f'[objects]\nurl = "{s3_bucket.url("lab-objects")}"\n'
        f'endpoint_url = "{s3_bucket.endpoint}"\n'
    )
    lab, _ = init_lab(lab_dir)
    weights = tmp_path / "model.bin"
    weights.write_bytes(os.urandom(2 * 1024 * 1024 + 3))
    with start_run(lab, **quiet_run_kwargs) as run:
        run.log({"loss": 0.5}, step=0)
        run.log_artifact(weights, name="model.bin")
    lab.close()

    lab = open_lab(lab_dir)
    assert not lab.objects.is_local
    (art,) = list_artifacts(lab, run.id)
    assert art.object == hash_file(weights) and art.size == weights.stat().st_size
    fs = fsspec.filesystem("s3", **s3_bucket.storage_options)
    key = f"{s3_bucket.name}/lab-objects/{art.object[:2]}/{art.object[2:]}"
    assert fs.size(key) == art.size  # really in the bucket, under its digest
    assert not (lab_dir / "objects").exists()
    back = download_artifact(lab, run.id, "model.bin", tmp_path / "back.bin")
    assert back.read_bytes() == weights.read_bytes()
    assert lab.objects.verify(art.object)
    lab.close()
