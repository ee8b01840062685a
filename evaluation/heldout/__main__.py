"""python -m evaluation.heldout --real FILE --seed N --out DIR [--fraud-rate 0.3] [--replicas 3]"""

from __future__ import annotations

import argparse
import json
import sys

from evaluation.heldout.generate import build, write
from evaluation.heldout.porto import load_eval_trips


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.heldout", description=__doc__)
    p.add_argument("--real", required=True, help="Porto trips CSV (ECML/PKDD 2015 layout); only the eval half is used")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--fraud-rate", type=float, default=0.3, help="share of trips with one injected fraud kind")
    p.add_argument("--replicas", type=int, default=3, help="generated trips per real trip (different draws each)")
    p.add_argument("--concurrent", type=int, default=150, help="trips running at once in the steady state")
    p.add_argument(
        "--part",
        choices=("eval", "tune"),
        default="eval",
        help="eval (the figures) or tune (diagnosing the detectors on the trips they are tuned on)",
    )
    a = p.parse_args(argv)
    if not 0.0 <= a.fraud_rate <= 1.0 or a.replicas < 1:
        p.error("--fraud-rate must be in [0, 1] and --replicas >= 1")
    trips = load_eval_trips(a.real, a.part)
    if not trips:
        p.error(f"{a.real}: no {a.part}-half trips with at least 5 fixes")
    result = build(trips, a.seed, a.fraud_rate, a.replicas, a.concurrent)
    write(result, a.out)
    json.dump(result.summary, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
