import onnxruntime as ort, numpy as np, json, sys, collections, glob, os
so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1; so.enable_profiling = True
so.profile_file_prefix = '/tmp/exp14/prof_' + os.path.basename(sys.argv[1])
s = ort.InferenceSession(sys.argv[1], so, providers=['CPUExecutionProvider'])
x = np.random.default_rng(0).standard_normal((1, 1, 32, 32), dtype=np.float32)
for _ in range(2000): s.run(None, {'images': x})
f = s.end_profiling()
ev = json.load(open(f))
agg = collections.defaultdict(list)
for e in ev:
    if e.get('cat') == 'Node' and e['name'].endswith('_kernel_time'):
        agg[e['args']['op_name'] + ':' + e['name'][:-12]].append(e['dur'])
tot = 0
for k, v in sorted(agg.items(), key=lambda kv: -np.median(kv[1])):
    tot += np.median(v); print(f'{np.median(v):6.1f} us  {k}')
print('sum of node medians', tot)
