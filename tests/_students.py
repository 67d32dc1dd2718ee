"""Student settings shared by test fixtures."""

# The student most fixtures were written for: flattened-pixel node features, label-free messages and live
# anchors (the defaults before the conv-stem, label-propagation, memory-bank student, which
# tests/commands/test_distill_defaults.py, the tiny_conv_label_student_ckpt fixture and the CLI tests cover).
PLAIN_STUDENT = {"stem": "none", "label_mode": "none", "anchor_features": "live"}
