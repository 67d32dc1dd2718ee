#!/usr/bin/env bash
# The main job end to end on the embedded digits dataset:
#   train-teacher -> distill (+ the CE-only ablation) -> evaluate -> export -> calibrate (INT8 Q/DQ)
#   -> build (TensorRT; skipped with a note where TensorRT is absent) -> bench -> compare -> run on a video.
# Everything lands in $RUN (default runs/digits). Run scripts/setup.sh first (the README does).
set -euo pipefail
# Every run rebuilds $RUN from scratch, so each stage replaces the previous run's artifacts (--overwrite).
# One thread per process unless the caller says otherwise: these models are tiny, and on a small shared
# machine two torch threads made epochs 3-4x slower (and changed results). Every number the README quotes
# for this job was measured this way.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/digits}
CLI=.venv/bin/cnn2gnn
PY=.venv/bin/python
mkdir -p "$RUN"
stage() { printf '\n=== %s ===\n' "$*"; }
start=$(date +%s)

stage "1/9 train the CNN teacher"
$CLI train-teacher --data digits --out "$RUN/teacher" --overwrite

stage "2/9 distil the CNN2GNN student (anchor mode) and the CE-only ablation"
# The default student (no flags): conv stem, anchors carrying the teacher's soft labels, a memory bank of
# up to 1024 anchors (docs/benchmarks.md); the CE-only ablation carries the anchors' one-hot labels instead.
$CLI distill --teacher "$RUN/teacher/best.pt" --out "$RUN/student" --overwrite
$CLI distill --no-teacher --data digits --out "$RUN/student-ce" --overwrite

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

stage "4/9 export teacher and student to ONNX (checker + parity with PyTorch)"
$CLI export "$RUN/student/best.pt" -o "$RUN/student.onnx" --overwrite
$CLI export "$RUN/teacher/best.pt" -o "$RUN/teacher.onnx" --overwrite
$CLI check "$RUN/student.onnx"

stage "5/9 INT8 calibration (explicit Q/DQ, graph path kept float)"
$CLI calibrate "$RUN/student.onnx" --data digits -o "$RUN/student.int8.onnx" --overwrite

stage "6/9 TensorRT engine"
if $PY -c "import sys; from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import tensorrt_available; sys.exit(0 if tensorrt_available() else 1)"; then
    $CLI build "$RUN/student.int8.onnx" --precision int8 -o "$RUN/engines"
    $CLI build "$RUN/student.onnx" --precision fp16 -o "$RUN/engines"
else
    echo "skipped: TensorRT is not installed on this machine (it ships with JetPack on a Jetson;"
    echo "on a desktop GPU: pip install tensorrt). The ONNX models above are what 'cnn2gnn build' takes."
fi

stage "7/9 benchmark (ONNX Runtime CPU here; TensorRT engines where built)"
$CLI bench "$RUN/student.onnx" --batch-sizes 1,64 --iterations 200
$CLI bench "$RUN/student.int8.onnx" --batch-sizes 1,64 --iterations 200
$CLI bench "$RUN/teacher.onnx" --batch-sizes 1,64 --iterations 200
for engine in "$RUN"/engines/*.engine; do
    [ -e "$engine" ] && $CLI bench "$engine" --batch-sizes 1,64
done

stage "8/9 compare FP32 vs INT8 and teacher vs student on the test split"
$CLI compare "$RUN/student.onnx" "$RUN/student.int8.onnx" --data digits
$CLI compare "$RUN/teacher.onnx" "$RUN/student.onnx" --data digits

stage "9/9 run the student on a video made from test images"
$PY scripts/make_test_video.py "$RUN/test-digits.mkv" --frames 120
$CLI run "$RUN/student.onnx" "$RUN/test-digits.mkv" --top-k 1 --out "$RUN/predictions.jsonl" \
    --save "$RUN/test-digits-annotated.mkv" --summary "$RUN/stream-summary.json"
$PY - "$RUN" <<'PYEOF'
import json, sys
run = sys.argv[1]
labels = json.load(open(f"{run}/test-digits.mkv.labels.json"))["labels"]
preds = [json.loads(line) for line in open(f"{run}/predictions.jsonl")]
correct = sum(int(p["labels"][0]) == y for p, y in zip(preds, labels))
print(f"video: {correct}/{len(labels)} frames classified correctly ({correct / len(labels):.4f})")
PYEOF

echo
echo "main job finished in $(( $(date +%s) - start )) s; artifacts in $RUN"
