"""Synthetic data, so mfr runs with no downloads: faces.py (procedurally drawn faces with landmarks),
datamodule.py (`data=demo`), benchmarks.py (benchmark trees in MFR2's layout, for tests and trying mfr.evaluate).
"""
