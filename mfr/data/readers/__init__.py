"""Dataset readers: each storage format or published dataset a FaceTable or VerificationSet is read from.

io.py decodes every image (one policy for unreadable files); table.py is the FaceTable every training reader
produces; sources.py recognises a layout at a root (folders.py, recordio.py, rmfd.py, twins.py, packed.py);
benchmarks.py reads the evaluation benchmarks (MFR2, MLFW, LFW, .bin) with layouts.py, mask_labels.py and
alignment.py (landmarks and mask types as a set's meta). A new dataset format is a reader here.
"""
