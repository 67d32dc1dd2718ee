import sys, time, json, os
sys.path.insert(0, '/work/exp14')
import torch; torch.set_num_threads(1)
from pathlib import Path
from cnn2gnn.toolchain.training.loop import TrainConfig
from cnn2gnn.toolchain.training.train_teacher import train_teacher
from cnn2gnn.toolchain.training.evaluate_checkpoint import evaluate_checkpoint
arch, width, epochs, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
out = Path(f'/tmp/exp14/runs/teacher_{arch}_w{width}_e{epochs}_s{seed}')
t0 = time.perf_counter()
r = train_teacher('digits', out, TrainConfig(epochs=epochs, augment='shift', seed=seed, device='cpu'), arch=arch, width=width, progress=False)
dt = time.perf_counter() - t0
h = r['history'][r['best_epoch']-1]
te = evaluate_checkpoint(Path(r['best_checkpoint']), None, 'test', 64, 'cpu')['accuracy']
print(json.dumps({'arch': arch, 'width': width, 'epochs': epochs, 'seed': seed, 'train_s': dt, 'best_epoch': r['best_epoch'],
  'val_acc': h['val_accuracy'], 'val_loss': h['val_loss'], 'test_acc': te, 'ckpt': r['best_checkpoint']}))
