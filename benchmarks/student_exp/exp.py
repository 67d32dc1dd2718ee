"""One student run: python exp.py '<json>' ; appends a line to /tmp/exp14/results.jsonl.
json keys: name, kind (gnn|cnn), student (StudentConfig fields) or widths (cnn), teacher (path|null),
epochs, augment, seed, lam, T, lr, data (for no-teacher)."""
import sys, time, json, os
sys.path.insert(0, '/work/exp14'); sys.path.insert(0, '/work/exp14/benchmarks')
import torch; torch.set_num_threads(1)
from pathlib import Path
from cnn2gnn.toolchain.training.loop import TrainConfig
from cnn2gnn.toolchain.training.evaluate_checkpoint import evaluate_checkpoint
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
c = json.loads(sys.argv[1])
seed = c.get('seed', 0)
tc = TrainConfig(epochs=c.get('epochs', 30), augment=c.get('augment', 'shift'), seed=seed, device='cpu', lr=c.get('lr', 2e-3),
                 select=c.get('select', 'val_loss'))
teacher = Path(c['teacher']) if c.get('teacher') else None
out = Path('/tmp/exp14/runs') / f"{c['name']}_s{seed}"
cache = Path('/tmp/exp14/cache')
t0 = time.perf_counter()
if c.get('kind', 'gnn') == 'gnn':
    from cnn2gnn.toolchain.distill.distill_student import distill_student
    r = distill_student(None if teacher else c.get('data', 'digits'), out, tc, c.get('student', {}), teacher,
                        lam=c.get('lam', 0.7), temperature=c.get('T', 4.0), cache_dir=cache, progress=False)
else:
    from cnn2gnn.toolchain.baselines.distill_cnn_student import distill_cnn_student
    r = distill_cnn_student(None if teacher else c.get('data', 'digits'), out, tc, c['widths'], teacher,
                            lam=c.get('lam', 0.7), temperature=c.get('T', 4.0), cache_dir=cache, progress=False)
dt = time.perf_counter() - t0
h = r['history'][r['best_epoch'] - 1]
ck = Path(r['best_checkpoint'])
te = evaluate_checkpoint(ck, None, 'test', 64, 'cpu')['accuracy']
te1 = evaluate_checkpoint(ck, None, 'test', 1, 'cpu')['accuracy'] if c.get('bs1') else None
from report.flops import flops_per_image
from report.training import deployed_module
payload = load_checkpoint(ck)
mod = deployed_module(payload)
mc = payload['model_config']
fl = flops_per_image(mod, (mc['in_channels'], mc['height'], mc['width']))
extra = {}
m = model_from_checkpoint(payload)
if hasattr(m, 'alpha'):
    extra = {'alpha': float(m.alpha), 'beta': float(m.label_scale)}
res = {**c, 'train_s': round(dt, 1), 'best_epoch': r['best_epoch'], 'val_acc': h['val_accuracy'], 'val_loss': round(h['val_loss'], 4),
       'last_val_acc': r['history'][-1]['val_accuracy'], 'test_acc': te, 'test_acc_bs1': te1, 'mflops': round(fl / 1e6, 3), **extra}
print(json.dumps(res))
with open('/tmp/exp14/results.jsonl', 'a') as f:
    f.write(json.dumps(res) + '\n')
