#!/usr/bin/env bash
# The main job end to end on the embedded digits dataset:
#   train-teacher -> distill (+ the CE-only ablation) -> evaluate -> export -> calibrate (INT8 Q/DQ)
#   -> build (TensorRT; skipped with a note where TensorRT is absent) -> bench -> compare -> run on a video.
# Everything lands in $RUN (default runs/digits). Run scripts/setup.sh first (the README does).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/digits}
CLI=.venv/bin/cnn2gnn
PY=.venv/bin/python
mkdir -p "$RUN"
stage() { printf '\n=== %s ===\n' "$*"; }
start=$(date +%s)

stage "1/9 train the CNN teacher"
$CLI train-teacher --data digits --out "$RUN/teacher"

stage "2/9 distil the CNN2GNN student (anchor mode) and the CE-only ablation"
$CLI distill --teacher "$RUN/teacher/best.pt" --out "$RUN/student"
$CLI distill --no-teacher --data digits --out "$RUN/student-ce"

stage "3/9 evaluate on the test split (students at batch size 1)"
$CLI evaluate "$RUN/teacher/best.pt" --json > "$RUN/eval-teacher.json"
$CLI evaluate "$RUN/student/best.pt" --batch-size 1 --plot "$RUN/student-confusion.png" --json > "$RUN/eval-student.json"
$CLI evaluate "$RUN/student-ce/best.pt" --batch-size 1 --json > "$RUN/eval-student-ce.json"
$PY - "$RUN" <<'PYEOF'
import json, sys
run = sys.argv[1]
for name in ("teacher", "student", "student-ce"):
    r = json.load(open(f"{run}/eval-{name}.json"))
    print(f"{name:<11} test accuracy {r['accuracy']:.4f}  (batch {r['batch_size']}, {r['num_samples']} images)")
PYEOF
