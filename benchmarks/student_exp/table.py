"""``table.md`` from ``results.jsonl``: one row per run name, means over its seeds.

    python benchmarks/student_exp/table.py [benchmarks/student_exp/results.jsonl] > benchmarks/student_exp/table.md
"""

from __future__ import annotations

import collections
import json
import statistics
import sys
from pathlib import Path

HEADER = ("| name | seeds | epochs | MFLOP | val acc | val loss | test acc (mean) | test per seed | best epochs | train s "
          "| alpha | beta |")


def main() -> None:
    results = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("results.jsonl")
    rows: dict[str, list[dict]] = collections.defaultdict(list)
    for line in results.read_text().splitlines():
        r = json.loads(line)
        rows[r["name"]].append(r)
    print(HEADER)
    print("|---" * 12 + "|")
    for name, rs in rows.items():
        def mean(key: str, rs: list[dict] = rs) -> float:
            return statistics.fmean(r[key] for r in rs)

        per_seed = " ".join("%.2f" % (r["test_acc"] * 100) for r in rs)
        best_epochs = " ".join(str(r["best_epoch"]) for r in rs)
        alphas = " ".join("%.2f" % r["alpha"] for r in rs if "alpha" in r)
        betas = " ".join("%.2f" % r["beta"] for r in rs if "beta" in r)
        seeds = ",".join(str(r.get("seed", 0)) for r in rs)
        print(f"| {name} | {seeds} | {rs[0]['epochs']} | {rs[0]['mflops']} | {mean('val_acc') * 100:.2f} "
              f"| {mean('val_loss'):.4f} | {mean('test_acc') * 100:.2f} | {per_seed} | {best_epochs} "
              f"| {mean('train_s'):.0f} | {alphas} | {betas} |")


if __name__ == "__main__":
    main()
