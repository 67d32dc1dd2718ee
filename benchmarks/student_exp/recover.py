import sys, json; sys.path.insert(0,'/work/exp14'); sys.path.insert(0,'/work/exp14/benchmarks')
import torch; torch.set_num_threads(1)
from pathlib import Path
from cnn2gnn.toolchain.training.evaluate_checkpoint import evaluate_checkpoint
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from report.flops import flops_per_image
from report.training import deployed_module
c = json.loads(sys.argv[1]); run = Path(sys.argv[2])
ck = run / 'best.pt'; p = load_checkpoint(ck); h = p['history']; be = p['best_epoch']
te = evaluate_checkpoint(ck, None, 'test', 64, 'cpu')['accuracy']
m = model_from_checkpoint(p); mc = p['model_config']
fl = flops_per_image(deployed_module(p), (mc['in_channels'], mc['height'], mc['width']))
res = {**c, 'train_s': round(sum(r['seconds'] for r in h), 1), 'best_epoch': be, 'val_acc': h[be-1]['val_accuracy'], 'val_loss': round(h[be-1]['val_loss'], 4),
       'last_val_acc': h[-1]['val_accuracy'], 'test_acc': te, 'test_acc_bs1': None, 'mflops': round(fl/1e6, 3), 'alpha': float(m.alpha), 'beta': float(m.label_scale), 'recovered': True}
open('/tmp/exp14/results.jsonl', 'a').write(json.dumps(res) + '\n'); print(res)
