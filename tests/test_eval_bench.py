"""`python -m mfr.eval.bench`: the evaluation engine's speed on cached embeddings runs end to end, and refuses bad input."""

import pytest

from mfr.eval.bench import main


def test_eval_bench_times_both_sets(capsys):
    main(["--pairs", "200", "--dim", "16", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "unlabelled (MLFW): all pairs" in out and "4 pair protocols + identification" in out
    assert out.count("cache read") == 2


def test_eval_bench_refuses_too_few_pairs_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--pairs", "5"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == "error: --pairs=5; allowed: an integer >= 20"
