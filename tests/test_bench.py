"""The model benchmark runs end to end on a CPU with tiny sizes and writes its figures."""

import json

from mfr.bench import main


def test_bench_reports_both_steps_and_their_ratio(tmp_path):
    out = tmp_path / "bench.json"
    result = main(["--backbone", "resnet10t", "--image-size", "32", "--batch", "10", "--steps", "1", "--warmup", "1",
                   "--classes", "20", "--no-profile", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["bare"]["images_per_s"] > 0 and saved["full"]["images_per_s"] > 0
    assert abs(saved["full_over_bare_speed"] - result["full"]["images_per_s"] / result["bare"]["images_per_s"]) < 1e-9
