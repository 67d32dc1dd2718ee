"""Latency of random-init exported students vs FLOP-matched CNNs (ORT CPU, 1 thread, batch 1, interleaved)."""
import sys, io, json; sys.path.insert(0,'/work/exp14'); sys.path.insert(0,'/work/exp14/benchmarks')
import torch, numpy as np, onnxruntime as ort, time; torch.set_num_threads(1)
from cnn2gnn.toolchain.models.student import CNN2GNNStudent, StudentConfig
from cnn2gnn.toolchain.models.registry import create_model
from cnn2gnn.export.anchor_student import AnchorStudentForExport
from report.flops import flops_per_image, cnn_widths_matching
def onnx_bytes(m):
    f = io.BytesIO()
    torch.onnx.export(m.eval(), torch.randn(1,1,32,32), f, input_names=['images'], output_names=['logits'], dynamic_axes={'images':{0:'b'}}, opset_version=17, dynamo=False)
    return f.getvalue()
def sess(b):
    so = ort.SessionOptions(); so.intra_op_num_threads=1; so.inter_op_num_threads=1
    return ort.InferenceSession(b, so, providers=['CPUExecutionProvider'])
variants = [json.loads(a) for a in sys.argv[1:]]
models = {}
for v in variants:
    M = v.pop('M', 512)
    cfg = StudentConfig(in_channels=1,height=32,width=32,num_classes=10,num_anchors=M,stem='conv',label_mode='lp',**v)
    s = CNN2GNNStudent(cfg); s.set_anchors(torch.randn(M,1,32,32), torch.arange(M), torch.arange(M)%10); s.eval()
    w = AnchorStudentForExport(s); fl = flops_per_image(w,(1,32,32))
    widths, cfl = cnn_widths_matching(fl,1,32,32,10)
    name = f"M{M}_" + "_".join(f"{k}{v[k]}" for k in v)
    models[name] = (sess(onnx_bytes(w)), fl)
    c = create_model({"family":"cnn-student","in_channels":1,"height":32,"width":32,"num_classes":10,"widths":widths})
    models[f"cnn{widths}"] = (sess(onnx_bytes(c)), cfl)
for w in ([16, 32, 32], [24, 48, 48]):
    c = create_model({"family":"cnn-student","in_channels":1,"height":32,"width":32,"num_classes":10,"widths":w})
    models[f"cnn{w}"] = (sess(onnx_bytes(c)), flops_per_image(c,(1,32,32)))
x = np.random.default_rng(0).standard_normal((1,1,32,32), dtype=np.float32)
times = {n: [] for n in models}
for n,(s,_) in models.items():
    for _ in range(300): s.run(None, {'images': x})
for r in range(20):
    for n,(s,_) in models.items():
        t=[]
        for _ in range(200):
            t0=time.perf_counter(); s.run(None, {'images': x}); t.append(time.perf_counter()-t0)
        times[n] += t
for n,(s,fl) in models.items():
    print(f"{n:40s} {fl/1e6:6.2f} MFLOP  p50 {np.median(times[n])*1e3:.4f} ms")
