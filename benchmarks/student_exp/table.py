import json, collections, statistics as st
rows = collections.defaultdict(list)
for l in open('/tmp/exp14/results.jsonl'):
    r = json.loads(l); rows[r['name']].append(r)
print('| name | seeds | epochs | MFLOP | val acc | val loss | test acc (mean) | test per seed | best epochs | train s | alpha | beta |')
print('|---|---|---|---|---|---|---|---|---|---|---|---|')
for n, rs in rows.items():
    f = lambda k: st.fmean(r[k] for r in rs)
    per = ' '.join('%.2f' % (r['test_acc'] * 100) for r in rs)
    be = ' '.join(str(r['best_epoch']) for r in rs)
    al = ' '.join('%.2f' % r['alpha'] for r in rs if 'alpha' in r)
    bt = ' '.join('%.2f' % r['beta'] for r in rs if 'beta' in r)
    seeds = ','.join(str(r.get('seed', 0)) for r in rs)
    print(f"| {n} | {seeds} | {rs[0]['epochs']} | {rs[0]['mflops']} | {f('val_acc')*100:.2f} | {f('val_loss'):.4f} | {f('test_acc')*100:.2f} | {per} | {be} | {f('train_s'):.0f} | {al} | {bt} |")
