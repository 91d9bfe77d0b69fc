"""Fashion-MNIST with 400 labels: the few-label methods on a CPU wall-clock budget.

Setting: 40 labels per class (`hide_labels(y_train, 40, seed)`: stratified,
seeded), the other 59,600 training images unlabeled, scored on the 10,000 test images. Every
method trains the same backbone with the same batch (B labeled + uratio * B unlabeled),
optimizer and budget, through `fewlabels.ConsistencyTraining` or `fewlabels.TeacherStudent`:

- the budget is wall-clock minutes (`--budget-min`), which the library fills
  (`budget_s`): the cosine schedule needs the step count in advance, so each run (or each
  teacher-student stage) is timed first on a throwaway fit of three epochs, their curve
  scoring included, and the steps are the whole epochs that fit once its setup and compile
  are taken off. A run's first timing is not counted; a teacher-student's student is given
  what is left of the budget, its own timing included;
- every epoch, the EMA model is scored on a fixed 2,000-image subset of the test set, which
  gives the accuracy-against-wall-time curve; the final figure is the full test set;
- pseudo-label accuracy is logged from the hidden labels (never used to train).

Rows: `supervised` (the 400 labels), `supervised-all` (all 60,000 labels: the ceiling the
few-label methods are measured against), the consistency algorithms, and `teacher-student`
(`--teacher`, `--teacher-share`, `--rounds`, `--student-view`, `--targets`,
`--target-threshold`, `--class-balance`, `--ensemble` set
the recipe). With both supervised rows present, the table gives each method's label-gap
recovery, `(method - supervised) / (supervised-all - supervised)`.

Run: `python benchmarks/fmnist_400.py --seeds 3 --budget-min 30 --methods
supervised,supervised-all,softmatch,teacher-student`. `--methods` runs a subset; `--plot`
writes the curve as PNG. `--resume` keeps the runs already in `--out` (refusing a file made
with other settings) and makes only the missing ones, so a table can be built in parts: every
run records its date and commit, and the table's footer names every invocation.

`--pretrain-steps 0,3000` runs each method from random weights and from a body pretrained
on the 60,000 training images with no label (SimCLR, `fewlabels.estimators.pretrain`) for
3,000 steps first; the pretraining's time counts against the same budget.
`--label-strategy typical` asks where the 400 labels should be: 2 per class at random, then
two rounds of a supervised CNN (500 steps) and `fewlabels suggest`'s picks by that strategy,
the annotator revealing them, instead of 40 random labels per class; with `--label-body
FILE`, all 400 at once on the features of a body pretrained on the pool (a cold start). The
picking time is recorded beside the run and not counted in its budget.

Two diagnostics (`ORACLES`) ask what limits the FixMatch family; they read the hidden labels,
so they are measurements, never methods: `oracle-masked` is FixMatch with its own confidence
mask, but every image the mask accepts is trained towards its true label (pseudo-labels that
are never wrong), and `oracle-all` trains every unlabeled image's strong view towards its true
label (no mask: the FixMatch step with all 60,000 labels). `--steps N` fixes the step count
instead of the wall-clock budget, so that a diagnostic can be set beside a run of the table
at the same number of steps, whatever the CPU.

`--one-core-each` runs the rows of a seed at the same time, each in a process of its own
pinned to one core (`os.sched_setaffinity`, TensorFlow on one thread): a pair of 2-hour rows
takes 2 hours of wall clock instead of 4, and both rows share the machine alike. Each run then
has one core, not the machine: its figures are a one-core budget's, and the table says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    add_resume,
    base_parser,
    first_reaching,
    footer,
    git_commit,
    mean_std,
    parse_seeds,
    previous_runs,
    write_outputs,
)
from keras import ops

from fewlabels.algorithms import registry
from fewlabels.algorithms.base import masked_cross_entropy
from fewlabels.algorithms.fixmatch import FixMatch
from fewlabels.data import hide_labels
from fewlabels.data.images import load_image_dataset
from fewlabels.estimators.consistency import ConsistencyTraining
from fewlabels.estimators.teacher_student import TeacherStudent
from fewlabels.files import read_json

METHODS = ("supervised", "supervised-all", "pseudo-label", "meanteacher", "fixmatch",
           "flexmatch", "freematch", "softmatch", "teacher-student")
ORACLES = ("oracle-masked", "oracle-all")
PERMISSIVE_START = ("flexmatch", "freematch", "softmatch")
LABELS_PER_CLASS = 40
TRAIN_SIZE = 60_000
CURVE_SUBSET = 2000
PRETRAIN_BATCH = 128
PICK_START, PICK_ROUNDS, PICK_STEPS = 2, 2, 500  # --label-strategy: labels per class to
# start from, rounds of picks, steps of each round's supervised CNN


def settings(args) -> dict:
    """The training settings every method shares."""
    return dict(model=args.model, cnn_widths=args.cnn_widths, batch_size=args.batch_size,
                uratio=args.uratio,
                steps_per_epoch=args.steps_per_epoch, optimizer=args.optimizer,
                learning_rate=args.learning_rate, weight_decay=5e-4,
                jit_compile=args.jit, deterministic=not args.jit,
                separate_weak_pass=args.separate_weak_pass, verbose=0)


class OracleMasked(FixMatch):
    """Diagnostic, not a method: FixMatch's confidence mask, the true label as the target.

    Every unlabeled image whose weak-view confidence passes the threshold trains its strong
    view towards its hidden true label, not towards the student's guess: FixMatch with
    pseudo-labels that are never wrong. The logged `pseudo_label_accuracy` stays the
    student's own (how often its guess would have been right). Images with no hidden label
    (-1) are left out of the mask.
    """

    registry_name = "oracle-masked"
    summary = "diagnostic: FixMatch's mask, each accepted image trained to its true label"

    def unsupervised(self, weak, strong, batch, student) -> dict:
        guess = super().unsupervised(weak, strong, batch, student)
        hidden = ops.cast(batch["hidden"], "int32")
        mask = guess["mask"] * ops.cast(hidden >= 0, guess["mask"].dtype)
        true = ops.one_hot(ops.maximum(hidden, 0), self.n_classes)
        return {"loss": masked_cross_entropy(true, strong, mask), "mask": mask,
                "pseudo_labels": guess["pseudo_labels"]}


class OracleAll(OracleMasked):
    """Diagnostic, not a method: every unlabeled image's strong view trained to its true
    label (threshold 0: no mask), the FixMatch step with every label."""

    registry_name = "oracle-all"
    summary = "diagnostic: every unlabeled image trained to its true label, no mask"

    def __init__(self, threshold: float = 0.0, **kwargs) -> None:
        super().__init__(threshold=threshold, **kwargs)


def register_oracles() -> None:
    """Put the diagnostics in the algorithm registry, once, and only in a process that runs
    them (`fewlabels methods` and the conformance suite never list them)."""
    for cls in (OracleMasked, OracleAll):
        if cls.registry_name not in registry.names():
            registry.register(cls)


def unlabeled_views(method: str) -> int:
    """How many views of each unlabeled image the method's student passes per step (0:
    none); teacher-student: its students' one view."""
    if method in ORACLES:
        register_oracles()
    if method == "teacher-student":
        return 1
    algorithm = registry.get("supervised" if method == "supervised-all" else method)
    return int(algorithm.uses_weak) + int(algorithm.uses_strong)


def images_per_step(method: str, args) -> int:
    """Images the student sees per step: B labeled, and uB per unlabeled view it passes."""
    return args.batch_size * (1 + unlabeled_views(method) * args.uratio)


def make_model(method: str, args, seed: int, body: dict | None = None):
    """The estimator of one run: its steps, or the wall-clock budget, which the library
    fills (`budget_s`: three epochs timed first, their curve scoring included). With a
    pretrained `body` (`pretrain_body`), the network starts from it and the wall-clock
    budget is what the pretraining left."""
    body = body or {"path": None, "wall_s": 0.0}
    budget = ({"steps": args.steps} if args.steps else
              {"budget_s": args.budget_min * 60.0 - body["wall_s"]})
    common = {**settings(args), **budget, "seed": seed, "backbone_weights": body["path"]}
    if method == "teacher-student":
        return TeacherStudent(ConsistencyTraining.for_method(args.teacher, **common),
                              teacher_share=args.teacher_share,
                              rounds=args.rounds, student_view=args.student_view,
                              targets=args.targets, target_threshold=args.target_threshold,
                              class_balance=args.class_balance, ensemble=args.ensemble,
                              student_consistency=args.student_consistency)
    algorithm = "supervised" if method == "supervised-all" else method
    # The table's runs have the papers' schedule, full unsupervised weight from step 1: they
    # were made so, and in a 30-minute run the start is forgotten. The library's default
    # ramps the weight over a third of the run (docs/consistency.md, short runs).
    papers = {"ramp_fraction": 0.0} if algorithm in PERMISSIVE_START else None
    return ConsistencyTraining.for_method(algorithm, algorithm_params=papers, **common)


def step_seconds(model, spe: int) -> float:
    """Seconds per step of a fitted run: its median epoch (the curve's scoring included)."""
    walls = np.diff([0.0, *model.epoch_wall_s_])[1:]  # the first epoch holds the compile
    return float(np.median(walls)) / spe if len(walls) else float("nan")


def pretrain_body(args, data, steps: int, seed: int) -> dict:
    """SimCLR on every training image, no label (`fewlabels.estimators.pretrain`, the
    library's defaults: both views `strong`, temperature 0.5), for the run's network; the
    body's file and the seconds it took, which count against the run's budget."""
    from fewlabels.estimators.pretrain import pretrain
    from fewlabels.estimators.specs import Network
    from fewlabels.models.body import save_body_weights

    start = time.perf_counter()
    done = pretrain(data.x, network=Network(args.model, cnn_widths=args.cnn_widths),
                    steps=steps, batch_size=PRETRAIN_BATCH, seed=seed)
    path = Path(args.out).parent / f"fmnist-body-{steps}-{seed}.weights.h5"
    save_body_weights(done.network, path)
    return {"path": str(path), "wall_s": time.perf_counter() - start, "steps": steps,
            "final_loss": round(done.losses[-1], 4)}


def pick_labels(args, data, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """The labels an annotator gives when `fewlabels suggest` chooses the images: 2 random
    labels per class, then `PICK_ROUNDS` rounds, each fitting the supervised CNN
    (`PICK_STEPS` steps) on the labels so far and revealing the `--label-strategy` picks,
    up to `--labels-per-class` x 10 labels in all; with `--label-body`, every label picked
    at once on a pretrained body's features (`body_picks`). Returns `(y_partial, y_hidden,
    record)`."""
    from fewlabels.workflow.suggest import suggest

    start = time.perf_counter()
    y_partial, _ = hide_labels(data.y, PICK_START, seed)
    total = 10 * args.labels_per_class
    if args.label_body:  # a cold start: every label picked on the pretrained body's features
        y_partial = np.full(len(data.y), -1)
        picked = body_picks(args, data, total, seed)
        y_partial[picked] = data.y[picked]
    for r in range(0 if args.label_body else PICK_ROUNDS):
        known = y_partial >= 0
        model = ConsistencyTraining.for_method(
            "supervised", **{**settings(args), "steps": PICK_STEPS, "seed": seed})
        model.fit(data.x, y_partial)
        unknown = np.flatnonzero(~known)
        budget = (total - int(known.sum())) // (PICK_ROUNDS - r)
        picks = suggest(model, data.x[unknown], budget, strategy=args.label_strategy,
                        labeled=data.x[known], seed=seed * 1000 + r)
        y_partial[unknown[picks.indices]] = data.y[unknown[picks.indices]]  # revealed
    y_hidden = np.where(y_partial >= 0, -1, data.y)
    per_class = np.bincount(y_partial[y_partial >= 0], minlength=10)
    strategy = f"{args.label_strategy} on a pretrained body" if args.label_body \
        else args.label_strategy
    return y_partial, y_hidden, {"label_strategy": strategy,
                                 "labels_by_class": per_class.tolist(),
                                 "picking_s": round(time.perf_counter() - start, 1)}


def body_picks(args, data, total: int, seed: int) -> np.ndarray:
    """`total` images picked by `--label-strategy` on the features of the pretrained body
    `--label-body` (built for the run's network), before any label."""
    from fewlabels.acquisition import select
    from fewlabels.estimators.specs import Network
    from fewlabels.workflow.suggest import body_features

    spec = Network(args.model, cnn_widths=args.cnn_widths, backbone_weights=args.label_body)
    features = body_features(args.model, spec, data.x)
    picks, _ = select(args.label_strategy, np.zeros((len(data.x), 1)), total,
                      features=features, seed=seed)
    return picks


def run_one(method: str, args, data, y_partial, y_hidden, seed: int,
            pretrain_steps: int = 0, picked: dict | None = None) -> dict:
    rng = np.random.default_rng(1000 + seed)
    subset = rng.choice(len(data.y_test), CURVE_SUBSET, replace=False)
    if method == "supervised-all":
        y_partial, y_hidden = data.y, None
    start = time.perf_counter()
    body = pretrain_body(args, data, pretrain_steps, seed) if pretrain_steps else None
    model = make_model(method, args, seed, body)
    model.fit(data.x, y_partial, y_hidden=y_hidden,
              validation_data=(data.x_test[subset], data.y_test[subset]))
    wall = time.perf_counter() - start
    metrics = model.evaluate(data.x_test, data.y_test)
    history = model.history_
    before = body["wall_s"] if body else 0.0  # the curve's clock starts with the pretraining
    curve = [[round(before + t, 1), round(a, 4)] for t, a in zip(
        model.epoch_wall_s_, history.get("val_accuracy", []), strict=False)]
    stages = [model] if not isinstance(model, TeacherStudent) else [model.teacher_,
                                                                     *model.students_]
    per_step = [round(step_seconds(m, args.steps_per_epoch), 4) for m in stages]
    views = [images_per_step(m.method if m.method != "distill" else "teacher-student", args)
             for m in stages]
    record = {
        "dataset": "fashion_mnist", "n_labeled": int(np.sum(y_partial >= 0)),
        "method": method, "seed": seed, "test_accuracy": round(metrics["accuracy"], 4),
        "macro_f1": round(metrics["macro_f1"], 4), "wall_s": round(wall, 1),
        "budget_min": None if args.steps else args.budget_min, "steps": model.n_steps_,
        "seconds_per_step": per_step[0],
        "images_per_s": round(views[0] / per_step[0], 1),
        "mask_rate": round(history.get("mask_rate", [0.0])[-1], 4),
        "pseudo_label_accuracy": round(history.get("pseudo_label_accuracy", [0.0])[-1], 4),
        "curve": curve, "warnings": model.warnings_, "pretrain_steps": pretrain_steps,
        "pretrain_s": round(before, 1),
        "pretrain_final_loss": body["final_loss"] if body else None, **(picked or {}),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": args.commit,
    }
    if isinstance(model, TeacherStudent):
        record["stages"] = [{**s, "seconds_per_step": t, "images_per_s": round(v / t, 1)}
                            for s, t, v in zip(model.stages_, per_step, views, strict=True)]
        record["teacher_accuracy"] = round(model.evaluate(
            data.x_test, data.y_test, stage="teacher")["accuracy"], 4)
    print(f"{row_name(record)} seed {seed}: {record['test_accuracy']:.4f} in {wall:.0f} s "
          f"({model.n_steps_} steps, {per_step[0]:.3f} s/step)", flush=True)
    return record


# The options a row's own process is given anew (`row_command`); every other option is passed
# on as it was given, so the row is trained with the same settings.
ROW_OPTIONS = ("--methods", "--pretrain-steps", "--seeds", "--out", "--table", "--plot")
ROW_FLAGS = ("--one-core-each", "--resume")


def pin_to_core(core: int) -> None:
    """This process on one core (`--core`), TensorFlow on one thread for its ops and one
    between them; before TensorFlow's runtime starts."""
    import tensorflow as tf

    os.sched_setaffinity(0, {core})
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def row_command(argv: list[str], row: tuple[str, int], seed: int, core: int,
                out: Path) -> list[str]:
    """The command of one row's process (`--one-core-each`): this script's own arguments
    `argv` without the options that name the rows, the files or `--resume`, then the row's
    method and pretraining steps, the seed, its core and a results file of its own."""
    kept, skip = [], False
    for arg in argv:
        name = arg.split("=", 1)[0]
        if skip:
            skip = False
        elif name in ROW_FLAGS:
            continue
        elif name in ROW_OPTIONS:
            skip = "=" not in arg  # `--out F` takes the next argument, `--out=F` does not
        else:
            kept.append(arg)
    method, pretrain_steps = row
    return [sys.executable, str(Path(__file__).resolve()), *kept, "--methods", method,
            "--pretrain-steps", str(pretrain_steps), "--seeds", f"{seed},",  # a list of one
            "--core", str(core), "--out", str(out), "--table", str(out.with_suffix(".md")),
            "--plot", ""]


def rows_at_once(argv: list[str], rows: list[tuple[str, int]], seed: int) -> list[dict]:
    """Train `rows` (method, pretraining steps) of one seed at the same time, each in a
    process of its own on a core of its own (`row_command`), and return their runs.

    Raises:
        ValueError: more rows than this process has cores.
        SystemExit: a row's process failed or wrote no run; its output is in this one's."""
    cores = sorted(os.sched_getaffinity(0))
    if len(rows) > len(cores):
        raise ValueError(f"{len(rows)} rows need as many cores; this process has {cores}")
    with tempfile.TemporaryDirectory(prefix="fmnist-rows-") as folder:
        outs = [Path(folder) / f"row-{i}.json" for i in range(len(rows))]
        running = [subprocess.Popen(row_command(argv, row, seed, core, out))
                   for row, core, out in zip(rows, cores, outs, strict=False)]
        failed = [row for row, p, out in zip(rows, running, outs, strict=True)
                  if p.wait() != 0 or not out.exists()]
        if failed:
            raise SystemExit(f"seed {seed}: the process of {failed} failed or wrote no run "
                             "(its output is above); the rows that ended are not kept")
        return [run for out in outs for run in read_json(out)["runs"]]


def one_core_text(info: dict) -> str:
    """The table's sentence for runs made with `--one-core-each` (empty otherwise)."""
    if not info.get("settings", {}).get("one_core_each"):
        return ""
    return (" Each run had one core of its own: the rows of a seed ran at the same time, each "
            "process pinned to one core, TensorFlow on one thread (`--one-core-each`); the "
            "budget is a one-core budget.")


def labeled_text(runs: list[dict], info: dict) -> str:
    """What the table's runs were given: labels per class, and how many labeled in all."""
    per_class = info.get("settings", {}).get("labels_per_class", LABELS_PER_CLASS)
    n_labeled = runs[0]["n_labeled"] if runs else 10 * per_class
    rest = "the rest unlabeled" if n_labeled < TRAIN_SIZE else "no unlabeled images"
    return f"{per_class} labels per class ({n_labeled:,} labeled), {rest}"


def minutes_to_reach(curve: list, level: float) -> float | None:
    """The first wall-clock minute at which a run's accuracy curve reaches `level`, if ever."""
    seconds = first_reaching(curve, level)
    return None if seconds is None else seconds / 60


def row_name(run: dict) -> str:
    """The table row a run belongs to: its method, and the pretraining it started from."""
    steps, picked = run.get("pretrain_steps", 0), run.get("label_strategy")
    name = f"{run['method']}, pretrained {steps:,} steps" if steps else run["method"]
    return f"{name}, labels picked by {picked}" if picked else name


def recovery(runs: list[dict], row: str) -> str:
    """`(row - supervised) / (supervised-all - supervised)` from the means over seeds, as
    text ("-" without both supervised rows)."""
    means = {m: np.mean([r["test_accuracy"] for r in runs if row_name(r) == m])
             for m in (row, "supervised", "supervised-all")
             if any(row_name(r) == m for r in runs)}
    if len(means) < 3 or means["supervised-all"] <= means["supervised"]:
        return "-"
    gap = means["supervised-all"] - means["supervised"]
    return f"{(means[row] - means['supervised']) / gap:.2f}"


def table(runs: list[dict], info: dict) -> str:
    """The markdown table: one row per method, every seed's accuracy beside the mean."""
    names = [row_name(r) for r in sorted(runs, key=lambda r: (
        (METHODS + ORACLES).index(r["method"]), r.get("pretrain_steps", 0)))]
    fixed = info.get("settings", {}).get("steps")
    budget = (f"every run makes {fixed:,} steps" if fixed else
              "the budget is wall-clock training time per run")
    lines = [
        f"Fashion-MNIST, {labeled_text(runs, info)}; test accuracy on the 10,000 test "
        f"images (mean ± std over seeds when there are several, and each seed's); {budget}."
        " Seconds per step and images per second are each run's median epoch, the curve's "
        "scoring included (teacher-student: its teacher's; its students' are in the JSON). "
        "Pseudo-label figures are the last epoch's; '0.80 "
        "at' is the minute each seed's curve (2,000 test images) first reaches 0.80. "
        "Recovery: the share of the label gap closed, (method - supervised) / "
        "(supervised-all - supervised), from the means. A row 'pretrained N steps' starts "
        "from a body pretrained on the pool first (SimCLR), its time inside the budget and "
        f"its wall minutes.{one_core_text(info)}",
        "",
        "| method | seeds | test accuracy | per seed | recovery | steps | s/step | images/s "
        "| final mask rate | pseudo-label accuracy | 0.80 at (min) | wall min |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(names):
        rs = sorted((r for r in runs if row_name(r) == name), key=lambda r: r["seed"])
        m = rs[0]["method"]
        accuracy = [r["test_accuracy"] for r in rs]
        # an algorithm that sees no unlabeled view (the baseline) makes no pseudo-labels
        labels_unlabeled = unlabeled_views(m) > 0
        pseudo = (f"{np.mean([r['pseudo_label_accuracy'] for r in rs]):.3f}"
                  if labels_unlabeled else "-")
        mask = f"{np.mean([r['mask_rate'] for r in rs]):.3f}" if labels_unlabeled else "-"
        mean = mean_std(accuracy) if len(rs) > 1 else f"{accuracy[0]:.3f}"
        per_seed = ", ".join(f"{r['seed']}: {r['test_accuracy']:.3f}" for r in rs)
        reach = [minutes_to_reach(r.get("curve", []), 0.80) for r in rs]
        reach_text = ", ".join("never" if t is None else f"{t:.1f}" for t in reach)
        lines.append(
            f"| {name} | {len(rs)} | {mean} | {per_seed} | {recovery(runs, name)} | "
            f"{int(np.mean([r['steps'] for r in rs]))} | "
            f"{np.mean([r['seconds_per_step'] for r in rs]):.3f} | "
            f"{np.mean([r['images_per_s'] for r in rs]):.0f} | {mask} | {pseudo} | {reach_text} | "
            f"{np.mean([r['wall_s'] for r in rs]) / 60:.1f} |")
    return "\n".join(lines + footer(info))


def plot(runs: list[dict], path: Path, one_core: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, m in enumerate(dict.fromkeys(row_name(r) for r in runs)):
        for i, r in enumerate(r for r in runs if row_name(r) == m):
            if r["curve"]:
                t, a = zip(*r["curve"], strict=True)
                ax.plot(np.array(t) / 60, a, color=f"C{k}", alpha=0.8,
                        label=m if i == 0 else None)
    ax.axhline(0.9, color="gray", linestyle=":", linewidth=1)
    cores = "one CPU core each" if one_core else f"{os.cpu_count()} CPU cores"
    ax.set_xlabel(f"wall-clock training time (minutes, {cores})")
    ax.set_ylabel("test accuracy (2,000-image subset, EMA model)")
    ax.set_title("Fashion-MNIST, 400 labels")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def shared_settings(args) -> dict:
    """What every run of a results file shares, kept in its meta block: `--resume` refuses
    a file made otherwise. A key added after files were made is set only when it is used,
    so that those files still resume."""
    shared = {**settings(args), "budget_min": None if args.steps else args.budget_min,
              "labels_per_class": args.labels_per_class, "curve_subset": CURVE_SUBSET,
              "teacher_student": {"teacher": args.teacher, "teacher_share": args.teacher_share,
                                  "rounds": args.rounds, "student_view": args.student_view,
                                  "targets": args.targets,
                                  "target_threshold": args.target_threshold,
                                  "ensemble": args.ensemble,
                                  "student_consistency": args.student_consistency}}
    if args.label_strategy != "random":
        shared["label_strategy"] = ({"strategy": args.label_strategy,
                                     "body": Path(args.label_body).name} if args.label_body
                                    else {"strategy": args.label_strategy, "start": PICK_START,
                                          "rounds": PICK_ROUNDS, "steps": PICK_STEPS})
    if any(args.pretrain_steps):
        shared["pretrain_batch"] = PRETRAIN_BATCH
    if args.steps:
        shared["steps"] = args.steps
    if args.class_balance:
        shared["teacher_student"]["class_balance"] = True
    if args.one_core_each or args.core is not None:
        shared["one_core_each"] = True
    return shared


def train_seed(args, data, rows: list[tuple[str, int]], seed: int, save) -> None:
    """Train `rows` (method, pretraining steps) of one seed one after the other in this
    process, on its labels (random, or picked by `--label-strategy`); `save([run])` after
    each."""
    picked = None
    if args.label_strategy == "random":
        y_partial, y_hidden = hide_labels(data.y, args.labels_per_class, seed)
    else:
        y_partial, y_hidden, picked = pick_labels(args, data, seed)
        print(f"seed {seed}: labels picked by {args.label_strategy}, per class "
              f"{picked['labels_by_class']}, in {picked['picking_s']:.0f} s", flush=True)
    for method, pretrain_steps in rows:
        save([run_one(method, args, data, y_partial, y_hidden, seed, pretrain_steps, picked)])


def main() -> None:
    parser = base_parser("fmnist_400", __doc__, default_seeds="3")
    parser.add_argument("--budget-min", type=float, default=30.0,
                        help="wall-clock training minutes per run (default: 30)")
    parser.add_argument("--steps", type=int, default=None,
                        help="a fixed number of training steps per run instead of the "
                        "wall-clock budget (a multiple of --steps-per-epoch)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma list (default: all of {', '.join(METHODS)}; the "
                        f"diagnostics {', '.join(ORACLES)} read the hidden labels)")
    parser.add_argument("--labels-per-class", type=int, default=LABELS_PER_CLASS,
                        help=f"labels kept per class (default: {LABELS_PER_CLASS}); 6000 keeps "
                        "them all: the supervised ceiling of the backbone and budget")
    parser.add_argument("--model", default="cnn", choices=("cnn", "wrn"))
    parser.add_argument("--cnn-widths", default=(16, 32, 64),
                        type=lambda text: tuple(int(v) for v in text.split(",")),
                        help="filters of the compact CNN's stages (default: 16,32,64)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--uratio", type=int, default=7)
    parser.add_argument("--steps-per-epoch", type=int, default=50,
                        help="steps between two points of the accuracy curve (default: 50)")
    parser.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"),
                        help="sgd: Nesterov momentum 0.9, as FixMatch (default); adam: AdamW")
    parser.add_argument("--learning-rate", type=float, default=0.03)
    parser.add_argument("--separate-weak-pass", action="store_true",
                        help="the FixMatch family's weak view in a pass of its own, without "
                        "gradient (faster steps, BatchNorm statistics of its own)")
    parser.add_argument("--teacher", default="fixmatch",
                        help="teacher-student: the teacher's algorithm (default: fixmatch)")
    parser.add_argument("--teacher-share", type=float, default=0.5,
                        help="teacher-student: the teacher's share of the budget")
    parser.add_argument("--rounds", type=int, default=1,
                        help="teacher-student: students, one after the other (default: 1)")
    parser.add_argument("--student-view", default="auto",
                        help="teacher-student: the students' view (default: auto, strong)")
    parser.add_argument("--targets", default="hard", choices=("soft", "hard"),
                        help="teacher-student: the teacher's top class or probabilities")
    parser.add_argument("--target-threshold", type=float, default=0.8,
                        help="teacher-student: leave out images the teacher is less sure of")
    parser.add_argument("--class-balance", action="store_true",
                        help="teacher-student: share the kept images among classes by the "
                        "labeled prior")
    parser.add_argument("--student-consistency", type=float, default=0.0,
                        help="teacher-student: weight of the students' own FixMatch term")
    parser.add_argument("--ensemble", action="store_true",
                        help="teacher-student: average the last student and its teacher")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True,
                        help="XLA on, op determinism off (the default: faster, not "
                        "bit-reproducible); --no-jit: op determinism, no XLA")
    parser.add_argument("--pretrain-steps", default="0",
                        type=lambda text: [int(v) for v in text.split(",")],
                        help="comma list: each method is run from random weights (0) and/or "
                        "from a body pretrained (SimCLR, batch 128) for that many steps on "
                        "the pool first, inside the same budget (default: 0)")
    parser.add_argument("--label-strategy", default="random",
                        help="random: the labels are a stratified random choice (default); "
                        "a `fewlabels suggest` strategy: 2 per class at random, then the "
                        "strategy's picks in rounds (`pick_labels`)")
    parser.add_argument("--label-body", default=None, metavar="FILE",
                        help="with --label-strategy typical, k-center or random: pick every "
                        "label at once on the features of this pretrained body (a cold "
                        "start, `fewlabels suggest BODY DATA`), no random labels first")
    parser.add_argument("--one-core-each", action="store_true",
                        help="the rows of a seed at the same time, each in a process pinned "
                        "to one core (the budget is then a one-core budget)")
    parser.add_argument("--core", type=int, default=None, help=argparse.SUPPRESS)  # a row's
    # own process, made by --one-core-each
    add_resume(parser)
    parser.add_argument("--plot", default=None,
                        help="the accuracy-against-time plot (default: beside --table, as "
                        ".png; '' for none)")
    args = parser.parse_args()
    if args.plot is None:
        args.plot = str(Path(args.table).with_suffix(".png"))
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS + ORACLES))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {METHODS + ORACLES}")
    if args.labels_per_class < 1:
        parser.error(f"--labels-per-class must be >= 1; got {args.labels_per_class}")
    if set(methods) & set(ORACLES):
        register_oracles()
    if args.steps is not None and (args.steps < 1 or args.steps % args.steps_per_epoch):
        parser.error(f"--steps must be a positive multiple of --steps-per-epoch "
                     f"({args.steps_per_epoch}); got {args.steps}")
    if args.core is not None:
        pin_to_core(args.core)
    shared = shared_settings(args)
    runs, earlier = previous_runs(args, shared)
    args.commit = git_commit()  # the code this process loaded ("+": with local changes)
    done = {(r["method"], r.get("pretrain_steps", 0), r["seed"]) for r in runs}
    one_core = bool(shared.get("one_core_each"))

    def save(new: list[dict]) -> None:
        """After every run: a long job keeps its results, and --resume goes on from them."""
        runs.extend(new)
        write_outputs(args, runs, table, settings=shared, earlier=earlier)
        if args.plot:
            plot(runs, Path(args.plot), one_core)

    made = 0
    data = None if args.one_core_each else load_image_dataset("fashion_mnist")
    for seed in parse_seeds(args.seeds):
        rows = [key for key in itertools.product(methods, args.pretrain_steps)
                if (*key, seed) not in done]
        for method, pretrain_steps in sorted(set(itertools.product(
                methods, args.pretrain_steps)) - set(rows)):
            print(f"{method} ({pretrain_steps} pretraining steps) seed {seed}: already in "
                  f"{args.out}", flush=True)
        if args.one_core_each:
            width = len(os.sched_getaffinity(0))
            for i in range(0, len(rows), width):
                save(rows_at_once(sys.argv[1:], rows[i:i + width], seed))
        elif rows:
            train_seed(args, data, rows, seed, save)
        made += len(rows)
    if args.plot and runs and not made:  # every run was already made: redraw from the file
        plot(runs, Path(args.plot), one_core)

if __name__ == "__main__":
    main()
