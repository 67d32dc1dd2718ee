"""ORT CPU batch-1 latency (1 thread), interleaved rounds, of run dirs' best.pt: python latency.py name=rundir ..."""
import sys, json, os
sys.path.insert(0, '/work/exp14'); sys.path.insert(0, '/work/exp14/benchmarks')
import torch; torch.set_num_threads(1)
from pathlib import Path
import numpy as np, onnx
from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint
from report.latency import measure_latency
models = {}
ops = {}
for arg in sys.argv[1:]:
    name, run = arg.split('=')
    out = Path('/tmp/exp14/onnx') / f'{name}.onnx'
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        rep = onnx_from_checkpoint(Path(run) / 'best.pt', out, progress=False)
        print(name, 'parity', rep['parity']['max_abs_diff'], rep['parity']['top1_agreement'], file=sys.stderr)
    models[name] = out
    ops[name] = len(onnx.load(str(out)).graph.node)
x = np.random.default_rng(0).standard_normal((64, 1, 32, 32), dtype=np.float32)
res = {}
for rep_i in range(3):
    r = measure_latency(models, x, threads=1, warmup=200, iterations={1: 3000}, rounds=10, progress=False)
    for n in models:
        res.setdefault(n, []).append(r[n]['1']['latency_ms']['p50'])
for n in models:
    print(json.dumps({'name': n, 'p50_ms_b1_runs': [round(v, 4) for v in res[n]], 'p50_ms_b1_median': round(float(np.median(res[n])), 4), 'onnx_nodes': ops[n]}))
