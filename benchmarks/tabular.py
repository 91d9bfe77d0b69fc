"""Tabular benchmark: fewlabels' default for tables against scikit-learn's semi-supervised
methods, on six tables that ship inside installed packages.

Datasets: scikit-learn's iris, wine, breast_cancer and digits; the Palmer penguins
(`palmerpenguins`: species from the four body measurements, rows with a missing one
dropped); and the cars of `vega_datasets` (origin from the seven numeric columns, rows with
a missing value dropped). The last two come with `pip install -e '.[bench]'`.

Per dataset, setting and seed: a stratified 30% test split; of the rest, either 10% of each
class keeps its labels (at least 2 per class, the `labeled_subset` rule) or 5 rows per
class do; every other row is unlabeled. Every method sees the same split, and features
standardized on the training rows (fewlabels standardizes inside its models as well).

Methods:
- `table-ensemble`: fewlabels' default for tables, `TableEnsemble()` with its defaults;
  `(no network)`: without its network member, `members=("linear", "kernel", "graph")`;
  `(calibrated)`: with `calibrate=True`; `(select=cv)`: one member or the average, chosen
  by out-of-fold log-likelihood on the labeled rows; `(select=labels)`: the network alone
  from 10 labels in the rarest class, the other three members below;
  `(graph on network)`: label spreading over the network member's hidden features
  (`graph=Graph(features="network")`); `(SCARF body)`: its network member starts from a
  body pretrained as below (`model=Network(backbone_weights=...)`).
- scikit-learn's semi-supervised methods, with their defaults except where a default is
  degenerate on standardized features (the rbf kernel's `gamma=20`):
  `SelfTrainingClassifier` around `LogisticRegression`, `SVC(probability=True)` and
  `HistGradientBoostingClassifier`; `LabelSpreading(kernel="knn")`;
  `LabelPropagation(kernel="knn")`.
- `supervised MLP`: fewlabels' MLP on the labeled rows only (`SelfTraining(rounds=0)`).
- `self-training MLP`: `SelfTraining()` with its defaults (the MLP, threshold, class
  balance, fine-tuning); `(calibrated)`: with `calibrate=True`, temperature scaling on the
  validation rows before each round's selection.
- `FixMatch (rows)`: `ConsistencyTraining(method="fixmatch")` on the rows, Adam at 0.003 for the
  ensemble's 600 `network_steps`, the (64, 64) MLP: the ensemble's network member alone;
  `(twice the steps)`: 1,200 steps.
- `(SCARF body)` (self-training MLP, FixMatch (rows)): the network starts from a body
  pretrained with SCARF (`fewlabels.estimators.pretrain`, batch 128, 1,000 steps) on the
  training rows with no label; its wall time includes the pretraining.
- `teacher-student (rows)`: the image recipe, `TeacherStudent`, on the rows: that FixMatch
  as its teacher, then a fresh student for as many steps on the teacher's labels.
- `fewlabels ST(LR) calibrated` and `fewlabels ST(SVC) calibrated`: fewlabels'
  self-training around scikit-learn's learners (`SelfTraining(estimator=...)`), set up as
  `SelfTrainingClassifier` is (threshold 0.75, up to 10 rounds, no class balance), with
  temperature scaling before the threshold.
- `ceiling`: the ensemble's linear and kernel members with every training row labeled.

Run: `python benchmarks/tabular.py --seeds 5`. It writes `benchmarks/results/tabular.json`
and `docs/benchmarks/tabular.md`.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, parse_seeds, write_outputs

from fewlabels import FewLabelsWarning
from fewlabels.data import labeled_subset, load_builtin, stratified_split

DATASETS = ("iris", "wine", "breast_cancer", "digits", "penguins", "cars")
SETTINGS = {"10%": {"fraction": 0.1, "min_per_class": 2}, "5/class": {"n_per_class": 5}}
TEST_FRACTION = 0.3
DEFAULT = "table-ensemble"
PEERS = ("sklearn ST(LR)", "sklearn ST(SVC)", "sklearn ST(HGB)", "sklearn LabelSpreading",
         "sklearn LabelPropagation")


def _package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"dataset needs {package}: pip install -e '.[bench]'")
    return Path(next(iter(spec.submodule_search_locations))) / relative


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """`(x, y)` of a benchmark dataset, y as class indices."""
    if name == "penguins":
        columns = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
        with open(_package_file("palmerpenguins", "data/penguins.csv"), newline="") as f:
            rows = [r for r in csv.DictReader(f) if all(r[c] != "NA" for c in columns)]
        x = [[float(r[c]) for c in columns] for r in rows]
        labels = [r["species"] for r in rows]
    elif name == "cars":
        columns = ("Miles_per_Gallon", "Cylinders", "Displacement", "Horsepower",
                   "Weight_in_lbs", "Acceleration")
        rows = json.loads(_package_file("vega_datasets", "_data/cars.json").read_text())
        rows = [r for r in rows if all(r[c] is not None for c in columns)]
        x = [[float(r[c]) for c in columns] + [float(r["Year"][:4])] for r in rows]
        labels = [r["Origin"] for r in rows]
    else:
        table = load_builtin(name)
        return table.x.astype(np.float64), table.y
    return np.asarray(x), np.unique(labels, return_inverse=True)[1]


PRETRAIN_STEPS = 1000


def _fewlabels(make):
    def run(x, y_partial, seed):
        model = make(seed).fit(x, y_partial)
        extra = {}
        if hasattr(model, "labeled_iter_"):
            extra["pseudo_labeled"] = int(np.sum(model.labeled_iter_ > 0))
        return model.predict, extra
    return run


def _table_ensemble(**params):
    def make(seed):
        from fewlabels import TableEnsemble

        return TableEnsemble(seed=seed, **params)
    return make


def _pretrained(make, steps: int = PRETRAIN_STEPS):
    """A Network-built method whose network starts from a SCARF body pretrained for `steps`
    steps on the training rows, no labels (`fewlabels.estimators.pretrain`, batch 128); the
    wall time includes the pretraining. `make(seed, weights)` builds the method."""
    def run(x, y_partial, seed):
        import tempfile

        from fewlabels.estimators.pretrain import pretrain
        from fewlabels.models.body import save_body_weights

        with tempfile.TemporaryDirectory() as work:
            body = save_body_weights(pretrain(x, steps=steps, batch_size=128, seed=seed).network,
                                     Path(work) / "body.weights.h5")
            model = make(seed, str(body)).fit(x, y_partial)
        return model.predict, {}
    return run


def _pretrained_ensemble(seed, weights):
    """The table ensemble whose network member starts from the body's `weights`."""
    from fewlabels import Network, TableEnsemble

    return TableEnsemble(seed=seed, model=Network(backbone_weights=weights))


def _base_learner(name, **params):
    def make(seed):
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import SVC

        from fewlabels import SelfTraining

        learner = {"LR": lambda: LogisticRegression(max_iter=1000),
                   "SVC": lambda: SVC(probability=True, random_state=seed)}[name]()
        return SelfTraining.for_method("self-training", estimator=learner, seed=seed, **params)
    return make


def _supervised_mlp(seed):
    from fewlabels import SelfTraining

    return SelfTraining(seed=seed, rounds=0, finetune=False)


def _self_training_mlp(**params):
    def make(seed, weights=None):
        from fewlabels import SelfTraining

        extra = {"backbone_weights": weights} if weights else {}
        return SelfTraining.for_method("self-training", seed=seed, **params,
                                       **extra)  # flat options
    return make


def _fixmatch(seed, weights=None, times=1):
    """The table ensemble's network member alone: its recipe and `times` its default steps,
    from a pretrained body's `weights` if given."""
    from fewlabels import Budget, ConsistencyTraining, Network
    from fewlabels.estimators.ensemble import NETWORK_RECIPE, NETWORK_STEPS

    return ConsistencyTraining(**NETWORK_RECIPE, seed=seed, model=Network(
        backbone_weights=weights), budget=Budget(times * NETWORK_STEPS, steps_per_epoch=100))


def _teacher_student(seed):
    """The image recipe on the rows: the network member as its teacher (the same steps), then
    a fresh student for as many steps."""
    from fewlabels import ConsistencyTraining, TeacherStudent

    member = _fixmatch(seed)
    teacher = ConsistencyTraining.like(member, steps=2 * member.budget.steps)
    return TeacherStudent(teacher, teacher_share=0.5)


def _sklearn(make):
    def run(x, y_partial, seed):
        model = make(seed).fit(x, y_partial)
        return model.predict, {}
    return run


def _peer(name):
    def make(seed):
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.semi_supervised import (
            LabelPropagation,
            LabelSpreading,
            SelfTrainingClassifier,
        )
        from sklearn.svm import SVC

        return {
            "sklearn ST(LR)": lambda: SelfTrainingClassifier(LogisticRegression(max_iter=1000)),
            "sklearn ST(SVC)": lambda: SelfTrainingClassifier(
                SVC(probability=True, random_state=seed)),
            "sklearn ST(HGB)": lambda: SelfTrainingClassifier(
                HistGradientBoostingClassifier(random_state=seed)),
            "sklearn LabelSpreading": lambda: LabelSpreading(kernel="knn"),
            "sklearn LabelPropagation": lambda: LabelPropagation(kernel="knn", max_iter=2000),
        }[name]()
    return make


def _ceiling(x, y_true, seed):
    from fewlabels import TableEnsemble

    model = TableEnsemble(members=("linear", "kernel"), rounds=0, seed=seed).fit(x, y_true)
    return model.predict, {}


# fewlabels' self-training around scikit-learn's learners, as scikit-learn's
# SelfTrainingClassifier sets it up (threshold 0.75, up to 10 rounds, no class balance),
# plus fewlabels' calibration before the threshold.
AS_SKLEARN = {"threshold": 0.75, "rounds": 10, "class_balance": False, "calibrate": True}

METHODS = {
    DEFAULT: _fewlabels(_table_ensemble()),
    "table-ensemble (no network)": _fewlabels(_table_ensemble(
        members=("linear", "kernel", "graph"))),
    "table-ensemble (calibrated)": _fewlabels(_table_ensemble(calibrate=True)),
    "table-ensemble (select=cv)": _fewlabels(_table_ensemble(select="cv")),
    "table-ensemble (select=labels)": _fewlabels(_table_ensemble(select="labels")),
    "table-ensemble (graph on network)": _fewlabels(_table_ensemble(graph="network")),
    "table-ensemble (standard scaling)": _fewlabels(_table_ensemble(scaling="standard")),
    "table-ensemble (SCARF body)": _pretrained(_pretrained_ensemble),
    **{name: _sklearn(_peer(name)) for name in PEERS},
    "supervised MLP": _fewlabels(_supervised_mlp),
    "self-training MLP": _fewlabels(_self_training_mlp()),
    "self-training MLP (calibrated)": _fewlabels(_self_training_mlp(calibrate=True)),
    "self-training MLP (SCARF body)": _pretrained(_self_training_mlp()),
    "FixMatch (rows)": _fewlabels(_fixmatch),
    "FixMatch (rows) (SCARF body)": _pretrained(_fixmatch),
    "FixMatch (rows) (twice the steps)": _fewlabels(lambda seed: _fixmatch(seed, times=2)),
    "teacher-student (rows)": _fewlabels(_teacher_student),
    "fewlabels ST(LR) calibrated": _fewlabels(_base_learner("LR", **AS_SKLEARN)),
    "fewlabels ST(SVC) calibrated": _fewlabels(_base_learner("SVC", **AS_SKLEARN)),
    "ceiling (all labels)": None,  # fitted on the true labels, below
}


def main() -> None:
    parser = base_parser("tabular", __doc__.splitlines()[0], default_seeds="5")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma list of method names")
    args = parser.parse_args()
    warnings.simplefilter("ignore", FewLabelsWarning)
    warnings.filterwarnings("ignore", module="sklearn")
    runs = []
    for name in args.datasets.split(","):
        x, y = load_dataset(name)
        for setting, rule in SETTINGS.items():
            for seed in parse_seeds(args.seeds):
                runs += _cell(x, y, name, setting, rule, seed, args.methods.split(","))
    write_outputs(args, runs, table)


def _cell(x, y, name, setting, rule, seed, methods) -> list[dict]:
    """Every method on one dataset, setting and seed."""
    train, test = stratified_split(y, TEST_FRACTION, seed)
    mean, scale = x[train].mean(0), x[train].std(0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    keep = labeled_subset(y[train], seed=seed, **rule)
    y_partial = np.full(len(train), -1)
    y_partial[keep] = y[train][keep]
    runs = []
    for method in methods:
        start = time.perf_counter()
        if method == "ceiling (all labels)":
            predict, extra = _ceiling(z[train], y[train], seed)
        else:
            predict, extra = METHODS[method](z[train], y_partial, seed)
        wall = time.perf_counter() - start
        run = {"dataset": name, "setting": setting, "n_labeled": len(keep),
               "n_rows": len(train), "n_test": len(test), "method": method, "seed": seed,
               "test_accuracy": float(np.mean(predict(z[test]) == y[test])),
               "wall_s": round(wall, 3), **extra}
        runs.append(run)
        print(json.dumps(run), flush=True)
    return runs


def _means(runs, key="test_accuracy") -> dict:
    cells: dict = {}
    for r in runs:
        cells.setdefault((r["method"], r["dataset"], r["setting"]), []).append(r[key])
    return {k: float(np.mean(v)) for k, v in cells.items()}


def table(runs: list[dict], info: dict) -> str:
    acc, wall = _means(runs), _means(runs, "wall_s")
    methods = list(dict.fromkeys(r["method"] for r in runs))
    cells = list(dict.fromkeys((r["dataset"], r["setting"]) for r in runs))
    labels = {c: sorted({r["n_labeled"] for r in runs if (r["dataset"], r["setting"]) == c})
              for c in cells}
    seeds = sorted({r["seed"] for r in runs})
    lines = [f"Test accuracy, mean over {len(seeds)} seeds; the margin is the default's lead "
             "over the best scikit-learn method of the cell, in points.", "",
             "| dataset | labels | rows | table-ensemble | best scikit-learn method | margin "
             "| supervised MLP | FixMatch (rows) | ceiling | time s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for dataset, setting in cells:
        peers = {m: acc[(m, dataset, setting)] for m in PEERS if (m, dataset, setting) in acc}
        best = max(peers, key=peers.get) if peers else None
        own = acc.get((DEFAULT, dataset, setting))
        n_rows = next(r["n_rows"] for r in runs if (r["dataset"], r["setting"]) ==
                      (dataset, setting))

        def cell(method, d=dataset, s=setting):
            value = acc.get((method, d, s))
            return "-" if value is None else f"{value:.3f}"

        margin = "-" if best is None or own is None else f"{100 * (own - peers[best]):+.1f}"
        lines.append(
            f"| {dataset} | {setting} ({'/'.join(map(str, labels[(dataset, setting)]))}) "
            f"| {n_rows} | {cell(DEFAULT)} | "
            + ("-" if best is None else f"{best.removeprefix('sklearn ')} {peers[best]:.3f}")
            + f" | {margin} | {cell('supervised MLP')} | {cell('FixMatch (rows)')} | "
            f"{cell('ceiling (all labels)')} | "
            + ("-" if (DEFAULT, dataset, setting) not in wall
               else f"{wall[(DEFAULT, dataset, setting)]:.1f}") + " |")
    lines += ["", "Every method, test accuracy (mean over seeds) per cell, and the mean over "
              "cells; time is the mean seconds per fit over every cell.", "",
              "| method | " + " | ".join(f"{d} {s}" for d, s in cells) + " | mean | time s |",
              "|---|" + "---|" * (len(cells) + 2)]
    for method in methods:
        values = [acc.get((method, d, s)) for d, s in cells]
        shown = [v for v in values if v is not None]
        times = [wall[(method, d, s)] for d, s in cells if (method, d, s) in wall]
        lines.append(f"| {method} | " + " | ".join("-" if v is None else f"{v:.3f}"
                                                     for v in values)
                     + f" | {np.mean(shown):.3f} | {np.mean(times):.1f} |")
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
