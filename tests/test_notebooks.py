"""Every notebook runs top to bottom on tiny demo checkpoints and writes its figures."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT, TINY, run_module

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny runs as python -m mfr.fit writes them: refinement with DA (0) and without (1)."""
    logs = tmp_path_factory.mktemp("logs")
    run_module(
        "mfr.fit",
        "-m",
        "experiment=dann_refine,refine",
        *TINY,
        "~callbacks.attention_maps",
        f"hydra.sweep.dir={logs / 'sweep'}",
        cwd=ROOT,
        env={"HOME": str(logs)},
        check=True,
    )
    return logs


def test_notebooks_are_committed_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["1_attention_maps.ipynb", "2_feature_distributions.ipynb", "3_roc_cmc.ipynb"]
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        assert all(
            not c.get("outputs") and not c.get("execution_count") for c in cells if c.cell_type == "code"
        ), path.name


@pytest.mark.slow
@pytest.mark.parametrize(
    "notebook, env, figures",
    [
        ("1_attention_maps", {"MFR_CKPT": "0"}, ["attention_maps.png"]),
        # no checkpoint named: both are found under MFR_LOGS by their model.da.enabled
        ("2_feature_distributions", {}, ["embeddings_pca.png"]),
        ("3_roc_cmc", {"MFR_CKPT": "0"}, ["demo_real_roc.png", "demo_real_cmc.png", "evaluation/results.json"]),
    ],
)
def test_notebook_runs_and_writes_its_figures(runs, tmp_path, monkeypatch, notebook, env, figures):
    for key, job in env.items():
        monkeypatch.setenv(key, str(runs / "sweep" / job / "checkpoints" / "last.ckpt"))
    monkeypatch.setenv("MFR_LOGS", str(runs))
    monkeypatch.setenv("MFR_FIGURES", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    path = ROOT / "notebooks" / f"{notebook}.ipynb"
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    for name in figures:
        assert (tmp_path / name).stat().st_size > 1000, name
    errors = [o for c in book.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
