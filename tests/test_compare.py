"""mfr.compare on fake run folders: differing keys found, cells grouped over seeds, mean/std right, files written."""

import csv
import json
import math
import statistics
from pathlib import Path

import pytest
import yaml

from conftest import run_module
from mfr.compare import collect, compare, differing_keys
from mfr.errors import ConfigError
from mfr.runs import Run

ACC = "val/demo_real/acc"


def fake_run(folder: Path, refine: bool, da: bool, seed: int, acc: float, curve: list[float] | None = None) -> Path:
    """A run folder as mfr.fit leaves it: .hydra/config.yaml (unresolved), metrics.json, csv curves."""
    config = {
        "seed": seed,
        "tags": [f"t{seed}"],
        "paths": {"output_dir": "${hydra:runtime.output_dir}"},
        "model": {"refine": {"enabled": refine}, "da": {"enabled": da}, "embedding_size": 512},
        "data": {"seed": "${seed}", "monitor": ACC},
        "trainer": {"default_root_dir": str(folder)},  # differs per run, but is bookkeeping
    }
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "metrics.json").write_text(
        json.dumps({"metrics": {ACC: acc, "val/demo_real/auc": acc / 2}, "global_step": 3})
    )
    if curve:
        (folder / "csv" / "version_0").mkdir(parents=True)
        rows = (
            ["epoch,step,train/loss," + ACC] + [f"0,{i},{v}," for i, v in enumerate(curve)] + [f"0,{len(curve)},,{acc}"]
        )
        (folder / "csv" / "version_0" / "metrics.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture
def sweep(tmp_path) -> Path:
    """refine x DA x 2 seeds: 8 runs, accuracies chosen so each cell's mean and std are known."""
    root, job = tmp_path / "sweep", 0
    for refine in (True, False):
        for da in (True, False):
            for seed in (1, 2):
                acc = 0.5 + 0.2 * refine + 0.1 * da + 0.01 * seed
                fake_run(root / str(job), refine, da, seed, acc, curve=[3.0, 2.0, 1.5])
                job += 1
    return root


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_differing_keys_leave_out_bookkeeping_and_equal_columns():
    runs = [
        Run(str(i), "", {"seed": s, "data.seed": s, "a.b": 1, "paths.output_dir": f"/x/{i}", "head.name": h}, {})
        for i, (s, h) in enumerate([(1, "arcface"), (2, "arcface"), (1, "cosface")])
    ]
    assert differing_keys(runs) == ["head.name", "seed"]  # data.seed holds seed's values: one column
    assert differing_keys(runs[:1]) == []
    diagonal = [
        Run(str(i), "", {"model.refine.enabled": on, "model.da.enabled": on}, {}) for i, on in enumerate([True, False])
    ]
    assert differing_keys(diagonal) == ["model.da.enabled", "model.refine.enabled"]  # agree by chance: two columns


def test_sweep_table_groups_seeds_with_mean_and_std(sweep, tmp_path):
    runs, notes = collect([sweep])
    assert len(runs) == 8 and notes == []
    out = tmp_path / "out"
    report = compare(runs, out)

    per_run = read_csv(out / "comparison.csv")
    assert len(per_run) == 8
    assert list(per_run[0])[:4] == ["run", "model.da.enabled", "model.refine.enabled", "seed"]
    assert {"val/demo_real/acc", "val/demo_real/auc"} <= set(per_run[0])

    cells = {(c["model.refine.enabled"], c["model.da.enabled"]): c for c in read_csv(out / "comparison_cells.csv")}
    assert set(cells) == {("on", "on"), ("on", "off"), ("off", "on"), ("off", "off")}
    on_off = cells[("on", "off")]
    values = [0.5 + 0.2 + 0.01 * s for s in (1, 2)]
    assert on_off["runs"] == "2"
    assert float(on_off[f"{ACC}_mean"]) == pytest.approx(statistics.fmean(values), abs=1e-4)
    assert float(on_off[f"{ACC}_std"]) == pytest.approx(statistics.stdev(values), abs=1e-4)

    text = report.read_text()
    assert f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}" in text
    assert "seed: repeats of a cell" in text
    for png in ("cells.png", "curves.png"):
        assert (out / png).stat().st_size > 10_000 and f"]({png})" in text


def test_single_run_cells_have_no_std(tmp_path):
    fake_run(tmp_path / "a", True, True, 1, 0.7)
    fake_run(tmp_path / "b", False, True, 1, 0.6)
    runs, _ = collect([tmp_path])
    compare(runs, tmp_path / "out")
    cells = read_csv(tmp_path / "out" / "comparison_cells.csv")
    assert [c[f"{ACC}_std"] for c in cells] == ["", ""]
    assert not math.isnan(float(cells[0][f"{ACC}_mean"]))


def test_unfinished_runs_are_noted_and_an_empty_path_is_an_error(sweep, tmp_path):
    (sweep / "9" / ".hydra").mkdir(parents=True)  # a run that crashed before metrics.json
    runs, notes = collect([sweep])
    assert len(runs) == 8 and len(notes) == 1 and "9: skipped, no metrics.json" in notes[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="empty: holds no runs"):
        collect([empty])
    with pytest.raises(ConfigError, match="no such file"):
        collect([tmp_path / "missing"])


def test_unknown_metric_lists_the_metrics(sweep, tmp_path):
    runs, _ = collect([sweep])
    with pytest.raises(ConfigError, match="--metric val/nope: no run has it; metrics: val/demo_real/acc"):
        compare(runs, tmp_path / "out", metrics=["val/nope"])


@pytest.mark.slow
def test_cli_writes_into_the_sweep_folder_and_fails_in_one_line(sweep, tmp_path):
    ok = run_module("mfr.compare", str(sweep), cwd=tmp_path, check=True)
    assert (sweep / "comparison.md").is_file() and "8 runs" in ok.stdout
    bad = run_module("mfr.compare", str(tmp_path / "nope"), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == f"error: {tmp_path / 'nope'}: no such file or directory"


def test_attention_health_appears_beside_the_accuracies(tmp_path):
    """Runs with refinement log val/attention/*: the tables show them right after the headline accuracy."""
    for name, entropy in (("a", 3.1), ("b", 0.0)):
        folder = fake_run(tmp_path / name, True, name == "a", 1, 0.7)
        saved = json.loads((folder / "metrics.json").read_text())
        saved["metrics"].update({"val/attention/entropy": entropy, "val/attention/input_dependence": 0.2})
        (folder / "metrics.json").write_text(json.dumps(saved))
    runs, _ = collect([tmp_path])
    compare(runs, tmp_path / "out")
    row = {r["model.da.enabled"]: r for r in read_csv(tmp_path / "out" / "comparison.csv")}
    assert list(row["on"])[-4:-1] == [ACC, "val/attention/entropy", "val/attention/input_dependence"]
    assert float(row["off"]["val/attention/entropy"]) == 0.0
