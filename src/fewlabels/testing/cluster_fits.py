"""One process of a cluster that runs each training path, one after another.

`python -m fewlabels.testing.cluster_fits DATA OUT --strategy multi-worker` (with
`TF_CONFIG`, as `fewlabels.testing.cluster.run_workers` starts it) runs FixMatch, FlexMatch,
self-training (with its supervised baseline) and teacher-student through `fit_run`, the API
`fewlabels fit` calls, into `OUT/<method>`; then predicts DATA with FixMatch's run
(`predict_run`, into `OUT/predictions.csv`) and prints the rows each process computed of a
batch (`sharded_prediction`): the cluster starts once for all. With `--strategy none` it is
the one-process reference. `multiworker_test.py` compares the two.
"""

from __future__ import annotations

import argparse
import json

FITS = {
    "fixmatch": {"steps": 40, "steps_per_epoch": 10, "batch_size": 8, "uratio": 2},
    "flexmatch": {"steps": 40, "steps_per_epoch": 10, "batch_size": 8, "uratio": 2,
                  "threshold": 0.5},
    # A round that labels the pool (threshold 0.6 accepts rows), then fine-tuning.
    "self-training": {"hidden_units": (16,), "epochs": 60, "patience": 100, "min_steps": 0,
                      "rounds": 1, "threshold": 0.6, "finetune_epochs": 2, "batch_size": 8,
                      "baseline": True},
    "teacher-student": {"steps": 40, "steps_per_epoch": 10, "batch_size": 8, "uratio": 2},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--strategy", default="none")
    args = parser.parse_args()
    from fewlabels.training.distribute import build_strategy

    build_strategy(args.strategy)  # joins the cluster before any computation
    from fewlabels.testing.two_replicas import sharded_prediction
    from fewlabels.workflow import fit_run, predict_run

    for method, params in FITS.items():
        result = fit_run(args.data, f"{args.out}/{method}", method=method,
                         **{"baseline": False, "seed": 0, **params}, strategy=args.strategy)
        print(method, "wrote" if result.written else "trained as a worker", flush=True)
    n = predict_run(f"{args.out}/fixmatch", args.data, f"{args.out}/predictions.csv",
                    strategy=args.strategy)
    print("predicted", n, flush=True)
    print("labelling", json.dumps(sharded_prediction(build_strategy(args.strategy))),
          flush=True)


if __name__ == "__main__":
    main()
