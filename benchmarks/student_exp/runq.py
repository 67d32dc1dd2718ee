"""Run exp.py configs one after another: python queue.py file.jsonl"""
import subprocess, sys, json, os
env = {**os.environ, 'OMP_NUM_THREADS': '1'}
for line in open(sys.argv[1]):
    line = line.strip()
    if not line or line.startswith('#'):
        continue
    r = subprocess.run(['/work/main/.venv/bin/python', '/tmp/exp14/exp.py', line], env=env, capture_output=True, text=True)
    print(r.stdout.strip() or r.stderr[-2000:], flush=True)
