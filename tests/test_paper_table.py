"""mfr.compare --methods on fake run folders: one row per experiment in Table 4's order, mean ± std over seeds,
runs that are not one method refused, published figures beside ours with their sources."""

import csv
import json
import statistics
from pathlib import Path

import pytest
import yaml

from conftest import run_module
from mfr.compare import collect
from mfr.errors import DataError
from mfr.paper_table import PUBLISHED, load_published, methods_table

ACC = "val/demo_real/acc"


def fake_run(folder: Path, experiment: str, seed: int, acc: float, refine: bool = False) -> Path:
    """A run folder as mfr.fit leaves it, with .hydra/hydra.yaml recording the experiment chosen."""
    config = {
        "seed": seed,
        "model": {"refine": {"enabled": refine}},
        "data": {"_target_": "mfr.data.demo.datamodule.DemoDataModule", "seed": "${seed}", "monitor": ACC},
    }
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    hydra = {"hydra": {"runtime": {"choices": {"experiment": experiment, "data": "demo", "head": "arcface"}}}}
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    (folder / "metrics.json").write_text(json.dumps({"metrics": {ACC: acc}}))
    return folder


@pytest.fixture
def table4_sweep(tmp_path) -> Path:
    """Three methods, listed out of Table 4's order, two seeds each."""
    root, job = tmp_path / "sweep", 0
    for experiment, base in [("srt", 0.6), ("baseline_arcface", 0.5), ("dann_refine", 0.8)]:
        for seed in (1, 2):
            fake_run(root / str(job), experiment, seed, base + 0.02 * seed, refine=experiment == "dann_refine")
            job += 1
    return root


def test_rows_are_methods_in_table_order_with_mean_and_std(table4_sweep, tmp_path):
    runs, _ = collect([table4_sweep])
    report = methods_table(runs, [ACC], None, tmp_path)
    rows = list(csv.DictReader((tmp_path / "table4.csv").open()))
    assert [r["experiment"] for r in rows] == ["baseline_arcface", "srt", "dann_refine"]
    values = [0.6 + 0.02 * s for s in (1, 2)]
    assert rows[1][ACC] == f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}" and rows[1]["runs"] == "2"
    text = report.read_text()
    assert "on the SYNTHETIC demo data" in text and "| STL: SRT + EUM (Boutros et al. 2022) | srt | 2 |" in text


def test_runs_of_one_experiment_that_differ_are_not_one_method(tmp_path):
    fake_run(tmp_path / "a", "dann_refine", 1, 0.7, refine=True)
    fake_run(tmp_path / "b", "dann_refine", 1, 0.6, refine=False)  # an ablation cell run from the same experiment
    runs, _ = collect([tmp_path])
    with pytest.raises(DataError, match="runs of experiment dann_refine differ in model.refine.enabled"):
        methods_table(runs, [ACC], None, tmp_path)


def test_published_figures_sit_beside_ours_with_their_sources(table4_sweep, tmp_path):
    figures_file = tmp_path / "published.yaml"
    figures_file.write_text(
        yaml.safe_dump(
            {
                "figures": [
                    {
                        "method": "srt",
                        "benchmark": "MFR2",
                        "metric": "acc",
                        "value": 0.9,
                        "source": "Paper A, Table 2, row SRT",
                    },
                    {
                        "method": "focusface",
                        "benchmark": "MFR2",
                        "metric": "acc",
                        "value": 0.8,
                        "source": "Paper B, Table 3",
                    },
                ]
            }
        )
    )
    runs, _ = collect([table4_sweep])
    text = methods_table(runs, [ACC], load_published(figures_file), tmp_path).read_text()
    assert "MFR2 acc (published)" in text and "| 0.9 [1] |" in text and "[1] Paper A, Table 2, row SRT" in text
    assert "no runs here of focusface" in text


def test_a_published_figure_without_its_source_is_refused(tmp_path):
    bad = tmp_path / "published.yaml"
    bad.write_text(yaml.safe_dump({"figures": [{"method": "srt", "benchmark": "MFR2", "metric": "acc", "value": 0.9}]}))
    with pytest.raises(DataError, match=r"published.yaml: figures\[0\] lacks source"):
        load_published(bad)
    assert all(f.source for f in load_published(PUBLISHED))  # the repository's own table loads


def test_cli_methods_view(table4_sweep, tmp_path):
    done = run_module("mfr.compare", str(table4_sweep), "--methods", "--published", cwd=tmp_path, check=True)
    assert (
        table4_sweep / "table4.md"
    ).is_file() and "| ArcFace (unmasked faces) | baseline_arcface | 2 |" in done.stdout
    alone = run_module("mfr.compare", str(table4_sweep), "--published", cwd=tmp_path)
    assert alone.returncode == 2 and "--published goes with --methods" in alone.stderr
