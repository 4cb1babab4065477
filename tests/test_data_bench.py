"""The loader benchmark runs end to end on a tiny dataset and reports every figure it promises."""

import json

from face_files import write_identity_folders, write_twins
from mfr.data.bench import main


def test_bench_measures_packed_and_jpeg(tmp_path, capsys):
    source = write_identity_folders(tmp_path / "casia", identities=4, per_identity=6)
    twins = write_twins(source, tmp_path / "twins")
    out = tmp_path / "bench.json"
    main(
        [
            "--source",
            str(source),
            "--twins",
            str(twins),
            "--work",
            str(tmp_path / "work"),
            "--workers",
            "0",
            "1",
            "--batch-size",
            "4",
            "--batches",
            "2",
            "--augment",
            "none",
            "--json",
            str(out),
        ]
    )
    rows = json.loads(out.read_text())
    assert [(r["format"], r["workers"]) for r in rows] == [("packed", 0), ("packed", 1), ("jpeg", 0), ("jpeg", 1)]
    assert all(r["samples_per_s"] > 0 and r["images_per_s"] == 2 * r["samples_per_s"] for r in rows)
    assert all(r["images_per_cpu_s"] > 0 and r["projected_images_per_s"] == 15 * r["images_per_cpu_s"] for r in rows)
    assert "img/CPU-s" in capsys.readouterr().out
