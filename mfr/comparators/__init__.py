"""The masked-face methods mfr's paper is measured against (its Table 4), as mfr methods (`model.method`).

focusface.py: FocusFace (Neto et al., FG 2021); srt.py: the self-restrained triplet loss and its embedding-unmasking
model (Boutros et al., Pattern Recognition 2022). Each trains on the same data modules and is evaluated by the same
engine as the paper's model; mfr/methods.py says which class a config or checkpoint builds.
"""
