"""The default for tables: a self-trained ensemble of a linear, a kernel, a graph model and
a network.

With a few labels per class, no single learner wins on every table: logistic regression
wins where classes are nearly linear, a kernel machine where they are curved, label
spreading where the unlabeled rows trace the classes' shapes, and a network trained by
consistency (FixMatch on the rows) where there are many features to learn from
(docs/benchmark-tabular.md). The ensemble averages them, and labels the unlabeled rows with
their mean:

1. Standardize; label spreading over the k-nearest-neighbour graph of every row (`graph`);
   FixMatch on the rows (`ConsistencyTraining`: the network `model`, `budget` steps).
2. Fit the linear and the kernel member on the labeled rows.
3. Each round, the ensemble (the mean of the members' probabilities) labels the unlabeled
   rows; those at `threshold` or above become pseudo-labels, and the linear and kernel
   members are fitted again on the labeled and pseudo-labeled rows. A row can lose its
   pseudo-label in a later round. The rounds stop after `rounds`, or when the pseudo-labels
   stop changing.
4. The fitted members are written into one Keras model (`fewlabels.models.kernels`), so
   predicting, evaluating, saving, loading (`safe_mode`) and export work as for every
   method.

A fit takes a few seconds, most of them the network's (docs/table-ensemble.md). The fitted
state follows scikit-learn's `SelfTrainingClassifier`: `transduction_`, `labeled_iter_`,
`n_iter_`, `termination_condition_`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from fewlabels import params as p
from fewlabels.errors import InputError
from fewlabels.estimators import members as m
from fewlabels.estimators.base import Estimator
from fewlabels.estimators.labels import encode_hidden, encode_labels, labels_of
from fewlabels.estimators.specs import Budget, Graph, Network, Optimizer
from fewlabels.validation import check_dense, check_training_data

NETWORK_RECIPE = {"method": "fixmatch", "optimizer": Optimizer("adam", learning_rate=0.003)}
"""The network member's recipe (`ConsistencyTraining` parameters; its network and steps are
the ensemble's `model` and `budget`): the tabular benchmark's FixMatch on the rows."""
NETWORK_STEPS = 600
"""The network member's default optimizer steps (`budget`)."""
CALIBRATION_FOLDS = 5
"""The most out-of-fold splits of the labeled rows that `calibrate=True` fits its temperature
on and `select="cv"` scores the members on."""
NETWORK_ALONE_FROM = 10
"""`select="labels"`: the labels of the rarest class from which the network member alone is
used (below, the other members)."""


def _members(name: str, value) -> None:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value or any(
            v not in m.MEMBERS for v in value) or len(set(value)) != len(value):
        raise InputError(f"{name} must be a non-empty list of distinct names from "
                         f"{list(m.MEMBERS)}; got {value!r}.")


class TableEnsemble(Estimator):
    """A self-trained ensemble of logistic regression, kernel logistic regression, label
    spreading and FixMatch on the rows: fewlabels' default for tables.

    Args:
        members: which of `"linear"`, `"kernel"`, `"graph"` and `"network"` the ensemble
            averages (`members=("linear", "kernel", "graph")` skips the network: a fit in
            a fraction of a second instead of a few seconds).
        rounds: the most pseudo-labeling rounds (0: the members on the labels alone).
        threshold: the ensemble's confidence at which an unlabeled row is pseudo-labeled.
        C: the inverse L2 regularization strength of the linear and kernel members
            (scikit-learn's `C`).
        gamma: the kernel width; None: `1 / median squared distance` between rows.
        max_anchors: the most rows the kernel features are measured against (every
            labeled row, then a seeded sample).
        graph: the graph member's settings: a `Graph` (`features="rows"`: neighbours
            between the standardized rows, or `"network"`: in the network member's last
            hidden layer, which must then be a member; `n_neighbors=7`, `alpha=0.2`).
            `graph="network"` is `Graph("network")`.
        model: the network member's network: a `Network` (default: the (64, 64) MLP), for
            example `Network(backbone_weights="body.weights.h5")` to start from a body
            `fewlabels pretrain` trained on the pool.
        budget: the network member's optimizer steps, `Budget(steps)` (default 600; FixMatch
            on the rows, Adam at 0.003, batches of 32 labeled and 224 unlabeled rows).
        select: how the members make the prediction. `"average"`: the mean of every
            member's probabilities. `"cv"`: the one of `members` other than the network,
            or their average (with the network, when it is a member), whose out-of-fold
            probabilities of the labeled rows have the highest log-likelihood (up to 5
            stratified folds; the network is not refitted per fold, so it takes part only
            in the average). `"labels"`: the family by the labels of the rarest class: the
            network alone from 10 labels, the other members below. `choice_` records what
            won and why. The benchmark measured both rules against the average
            (docs/table-ensemble.md).
        calibrate: before the rounds, fit a temperature (`fewlabels.calibration`) on the
            ensemble's out-of-fold probabilities of the labeled rows (up to 5 stratified
            folds; every member refitted without the held-out labels), and apply it to the
            probabilities the threshold reads. `calibration_` and each round's record hold
            the temperature and the out-of-fold ECE before and after. Off by default: the
            tabular benchmark measured it (docs/table-ensemble.md).
        scaling: how the linear, kernel and graph members see the features. `"standard"`:
            each feature scaled to unit variance. `"global"`: one shared scale, for features
            in one unit (pixels), where per-feature scaling would give a nearly constant
            feature the weight of an informative one. `"auto"`: global when no feature's
            spread exceeds 10 times the median feature's, else standard (`scaling_` says
            which; measured in docs/table-ensemble.md). The network member standardizes
            its own input.
        seed: seeds the samples (kernel width, anchors, rows beyond the kernel's cap).
        verbose: 0 silent; 1 or 2 one line per round.

    Example:
    ```python
    from fewlabels import TableEnsemble
    from fewlabels.data import load_table

    table = load_table("data.csv")            # -1 marks unlabeled rows
    model = TableEnsemble().fit(table.x, table.y, classes=table.classes)
    model.predict(x_new)                        # class labels, values of model.classes_
    ```
    """

    _specs: ClassVar[dict] = {"graph": Graph(), "model": Network(),
                              "budget": Budget(NETWORK_STEPS, steps_per_epoch=100)}
    _renamed: ClassVar[dict] = {"network_steps": "budget.steps",
                                "graph_features": "graph.features"}
    _unused: ClassVar[frozenset] = frozenset({
        "model.unfreeze", "model.unfreeze_learning_rate", "budget.seconds",
        "budget.steps_per_epoch"})
    _parameter_constraints: ClassVar[dict] = {
        "members": _members,
        "rounds": p.interval(int, 0, None),
        "threshold": p.interval(float, 0.0, 1.0),
        "C": p.interval(float, 0.0, None, "neither"),
        "gamma": p.optional(p.interval(float, 0.0, None, "neither")),
        "max_anchors": p.interval(int, 1, None),
        "select": p.one_of("average", "cv", "labels"),
        "calibrate": p.boolean,
        "scaling": p.one_of(*m.SCALINGS),
        "seed": p.interval(int, 0, 2**32 - 1),
        "verbose": p.one_of(0, 1, 2),
    }

    def __init__(
        self,
        *,
        members: Sequence[str] = m.MEMBERS,
        rounds: int = 5,
        threshold: float = 0.8,
        C: float = 10.0,
        gamma: float | None = None,
        max_anchors: int = 500,
        graph: Graph | str | None = None,
        model: Network | str | None = None,
        budget: Budget | None = None,
        select: str = "average",
        calibrate: bool = False,
        scaling: str = "auto",
        seed: int = 0,
        verbose: int = 0,
    ) -> None:
        self.members = members
        self.rounds = rounds
        self.threshold = threshold
        self.C = C
        self.gamma = gamma
        self.max_anchors = max_anchors
        self.graph = graph
        self.model = model
        self.budget = budget
        self.select = select
        self.calibrate = calibrate
        self.scaling = scaling
        self.seed = seed
        self.verbose = verbose

    def fit(self, X, y, *, classes: Sequence | None = None, y_hidden=None,
            checkpoint=None) -> TableEnsemble:
        """Fit on labeled and unlabeled rows.

        Args:
            X: features, `(n_samples, n_features)`.
            y: class labels of any type, -1 for unlabeled rows (scikit-learn's convention);
                with `classes`, class indices into it; or one-hot rows.
            classes: the class names, when `y` holds indices; default: the sorted labels.
            y_hidden: the true labels of the unlabeled rows, when known (benchmarks). Used
                only to report pseudo-label accuracy, never to train.
            checkpoint: accepted for the workflow's sake and unused: a fit takes seconds,
                so a resumed run fits again, to the same result.

        Returns:
            `self`, fitted.
        """
        start = time.perf_counter()
        p.validate_params(self)
        self._check_specs()
        check_dense(X)
        if np.asarray(X).ndim != 2:
            raise InputError(f"{type(self).__name__} takes feature rows (n_samples, "
                             f"n_features); got an array of shape {np.asarray(X).shape}. "
                             "For images use self-training or a consistency method.")
        y, labels = encode_labels(y, classes)
        X, y, classes_ = check_training_data(X, y, labels)
        hidden = encode_hidden(y_hidden, classes, classes_)
        hidden = None if hidden is None else np.asarray(hidden, dtype=np.int64)
        self.scaling_ = m.scaling_for(X.astype(np.float64), self.scaling)
        mean, scale = m.standardization(X.astype(np.float64), self.scaling_)
        Z = (X - mean) / scale
        n_classes = len(classes_)
        self.gamma_ = self.gamma or m.median_gamma(Z, self.seed)
        anchors = m.kernel_anchors(Z, y, self.max_anchors, self.seed)
        self.members_, self.choice_ = self._choose(Z, y, n_classes, anchors)
        if self.choice_:
            self._say(f"Members: {', '.join(self.members_)} ({self.choice_['why']}).")
        network = self._network(X, y, classes_)
        space, features = self._graph_space(Z, X, network)
        graph = self._graph(space, y, n_classes)
        # The members the rounds do not refit: their probabilities on every row, once.
        fixed = {**({} if graph is None else {"graph": m.graph_proba(graph, space)}),
                 **({} if network is None else {"network": network.predict_proba(X)})}
        self.network_ = network
        self.calibration_ = (self._temperature(Z, space, y, n_classes, anchors, fixed)
                             if self.calibrate and np.any(y < 0) else None)
        once = {"graph": None if graph is None else {**graph, **features},
                "network": None if network is None else {"model": network.model_}}
        fitted, records, labels, labeled_iter, termination = self._rounds(
            Z, y, classes_, anchors, once=once, fixed=fixed, hidden=hidden)
        from fewlabels.models.kernels import ensemble_network

        self.model_ = ensemble_network(mean, scale, fitted)
        self._set_data_shape(X.shape[1:], classes_)
        self.n_train_labeled_ = int(np.sum(y >= 0))
        self.n_unlabeled_ = int(np.sum(y < 0))
        self.rounds_ = records
        self.labeled_iter_ = labeled_iter
        self.transduction_ = labels_of(np.where(labeled_iter >= 0, labels, -1), classes_)
        self.n_iter_ = len(records)
        self.termination_condition_ = termination
        self.wall_s_ = round(time.perf_counter() - start, 3)
        return self

    # -- what a run reports -----------------------------------------------------------------

    report_name = "table-ensemble"
    summaries: ClassVar[dict[str, str]] = {
        "table-ensemble": "tables' default: a self-trained ensemble of logistic regression, "
                          "kernel logistic regression and label spreading"}

    def supervised_baseline(self) -> TableEnsemble:
        # The members that learn from labels alone (label spreading and FixMatch need the
        # unlabeled rows).
        inductive = [n for n in self.member_names() if n in ("linear", "kernel")] or ["linear"]
        return type(self)(**{**self.get_params(deep=False), "members": inductive,
                             "rounds": 0, "select": "average", "graph": None})

    def budget_words(self) -> str:
        choice = getattr(self, "choice_", None)
        why = "" if not choice else f" ({choice['why']})"
        return f"members: {', '.join(self.member_names())}{why}"

    def result_stages(self) -> list[tuple[str, str]]:
        members = [(f"  {name} member", name) for name in self.member_names()]
        return [*(members if len(members) > 1 else []), ("table-ensemble", "final")]

    def run_summary(self) -> dict:
        calibrated = getattr(self, "calibration_", None)  # (None on a loaded model)
        return {"labeled": self.n_train_labeled_,
                "pseudo_labeled": int(np.sum(self.labeled_iter_ > 0)),
                "rounds": self.n_iter_, "wall_s": self.wall_s_,
                **({"calibration": calibrated} if calibrated else {}),
                **({"choice": self.choice_} if getattr(self, "choice_", None) else {})}

    def history_record(self) -> dict:
        network = getattr(self, "network_", None)
        return {"estimator": "TableEnsemble", "members": self.member_names(),
                "choice": self.choice_,
                "gamma": self.gamma_, "n_iter": self.n_iter_,
                "termination_condition": self.termination_condition_,
                "rounds": self.rounds_,
                **({} if network is None else {"network": {
                    "steps": network.n_steps_, "wall_s": network.wall_s_,
                    "mask_rate": (network.history_.get("mask_rate") or [None])[-1]}})}

    def member_names(self) -> list[str]:
        """The members the fitted ensemble predicts with (`members_`; for a loaded model,
        read from its layers), or the `members` asked for before a fit."""
        if hasattr(self, "members_"):
            return list(self.members_)
        if hasattr(self, "model_"):
            names = {layer.name for layer in self.model_.layers}
            return [name for name in m.MEMBERS if name in names]
        return list(self.members)

    def _choose(self, Z, y, n_classes, anchors) -> tuple[tuple, dict | None]:
        """The members to fit, and the record of why (`select`)."""
        members = tuple(self.members)
        if self.select == "labels":
            rarest = int(np.bincount(y[y >= 0], minlength=n_classes).min())
            alone = rarest >= NETWORK_ALONE_FROM and "network" in members
            chosen = ("network",) if alone else tuple(n for n in members if n != "network")
            chosen = chosen or members
            return chosen, {"rule": "labels per class", "labels_in_rarest_class": rarest,
                            "network_alone_from": NETWORK_ALONE_FROM, "members": list(chosen),
                            "why": f"select=labels: {rarest} labels in the rarest class; the "
                                   f"network alone from {NETWORK_ALONE_FROM}"}
        if self.select == "average":
            return members, None
        names = [n for n in members if n != "network"]
        if not names:
            return members, None
        oof, folds = self._out_of_fold(Z, Z, y, n_classes, anchors, names)
        labeled = y[y >= 0]
        scores = {name: m.log_likelihood(proba, labeled) for name, proba in oof.items()}
        if len(members) > 1:
            scores["average"] = m.log_likelihood(np.mean(list(oof.values()), axis=0), labeled)
        best = max(scores, key=scores.get)
        chosen = members if best == "average" else (best,)
        shown = ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
        return chosen, {"rule": "cross-validation", "folds": folds,
                        "log_likelihood": {k: round(v, 4) for k, v in scores.items()},
                        "winner": best, "members": list(chosen),
                        "why": f"select=cv: {best} has the best out-of-fold log-likelihood "
                               f"of the labeled rows, {folds} folds ({shown})"}

    def _graph_space(self, Z, X, network) -> tuple[np.ndarray, dict]:
        """The rows the graph member measures neighbours between (`graph.features`), and
        what the saved model needs to map new rows there."""
        if self._spec("graph").features == "rows" or "graph" not in self.members_:
            return Z, {}
        if network is None:
            raise InputError("graph='network' needs the network member; got "
                             f"members={list(self.members_)!r}.")
        from fewlabels.models.kernels import hidden_features

        features = hidden_features(network.model_)
        return np.asarray(features.predict_on_batch(X), dtype=np.float64), {
            "features": features}

    def _graph(self, space, y, n_classes, member: bool | None = None):
        """The graph member fitted on `y` (None when it is not a member)."""
        graph = self._spec("graph")
        member = "graph" in self.members_ if member is None else member
        return (m.fit_graph(space, y, n_classes, graph.n_neighbors, graph.alpha)
                if member else None)

    def _network(self, X, y, classes):
        """The network member: FixMatch on the rows, fitted once (None when not a member)."""
        if "network" not in self.members_:
            return None
        from fewlabels.estimators.consistency import ConsistencyTraining

        budget = self._spec("budget")
        self._say(f"Network member: FixMatch on the rows, {budget.steps} steps.")
        return ConsistencyTraining(**NETWORK_RECIPE, seed=self.seed, model=self._spec("model"),
                                   budget=budget).fit(X, y, classes=classes)

    def _temperature(self, Z, space, y, n_classes, anchors, fixed) -> dict:
        """The temperature that calibrates the ensemble, fitted on out-of-fold probabilities
        of the labeled rows, with their ECE before and after. The network member is not
        refitted per fold (it is the slow one): its probabilities are the fitted network's."""
        from fewlabels.calibration import temperature_record

        labeled = np.flatnonzero(y >= 0)
        names = [n for n in self.members_ if n != "network"]
        oof, _ = self._out_of_fold(Z, space, y, n_classes, anchors, names)
        if "network" in fixed:
            oof["network"] = fixed["network"][labeled]
        record = temperature_record(np.mean(list(oof.values()), axis=0), y[labeled])
        if "skipped" in record:
            import warnings

            from fewlabels.errors import FewLabelsWarning

            warnings.warn(f"calibrate=True: {record['skipped']}.", FewLabelsWarning,
                          stacklevel=4)
        return record

    def _out_of_fold(self, Z, space, y, n_classes, anchors, names) -> tuple[dict, int]:
        """Out-of-fold probabilities of the labeled rows for each of the classic members
        `names` (refitted without the held-out labels), and the number of folds."""
        from fewlabels.data.splits import stratified_folds

        labeled = np.flatnonzero(y >= 0)
        folds = stratified_folds(y[labeled], CALIBRATION_FOLDS, self.seed)
        oof = {name: np.zeros((len(labeled), n_classes)) for name in names}
        for fold in range(int(folds.max()) + 1):
            held = labeled[folds == fold]
            hidden = y.copy()
            hidden[held] = -1
            graph = self._graph(space, hidden, n_classes, "graph" in names)
            fitted = self._fit_members(Z, hidden, hidden, n_classes, anchors=anchors,
                                       once={"graph": graph}, names=names)
            for name, member in fitted.items():
                rows = space[held] if name == "graph" else Z[held]
                oof[name][folds == fold] = m.PROBA[name](member, rows)
        return oof, int(folds.max()) + 1

    def _fit_members(self, Z, labels, y, n_classes, *, anchors, once, previous=None,
                     names=None) -> dict:
        """The members fitted on `labels`: the linear and kernel members refitted (from
        `previous`), the graph and network members as they were fitted `once` (by name)."""
        previous = previous or {}
        fitted = {}
        for name in names or self.members_:
            if name == "linear":
                fitted[name] = m.fit_linear(Z, labels, n_classes, self.C, previous.get(name))
            elif name == "kernel":
                fitted[name] = m.fit_kernel(Z, labels, y, n_classes, C=self.C, anchors=anchors,
                                            gamma=self.gamma_, seed=self.seed,
                                            previous=previous.get(name))
            else:
                fitted[name] = once[name]
        return fitted

    def _rounds(self, Z, y, classes, anchors, *, once, fixed, hidden):
        """The pseudo-labeling rounds: `(members, records, labels, labeled_iter,
        termination)`, `labels` the class indices the members were last fitted on (-1:
        none)."""
        from fewlabels.calibration import apply_temperature

        n_classes = len(classes)
        pool = np.flatnonzero(y < 0)
        fixed = {name: proba[pool] for name, proba in fixed.items()}
        labels = y.copy()
        labeled_iter = np.where(y >= 0, 0, -1)
        records: list[dict] = []
        fitted = self._fit_members(Z, labels, y, n_classes, anchors=anchors, once=once)
        termination = "max_iter" if len(pool) else "all_labeled"
        for r in range(1, self.rounds + 1 if len(pool) else 1):
            proba = m.ensemble_proba(fitted, Z[pool], fixed)
            if self.calibration_ is not None:
                proba = apply_temperature(proba, self.calibration_["temperature"])
            chosen = proba.max(axis=1) >= self.threshold
            new = np.full(len(y), -1)
            new[pool[chosen]] = proba[chosen].argmax(axis=1)
            if np.array_equal(new[pool], labels[pool]):
                termination = "no_change"
                break
            labels[pool] = new[pool]
            labeled_iter[pool[~chosen]] = -1  # a row can lose its pseudo-label
            labeled_iter[pool[chosen & (labeled_iter[pool] == -1)]] = r
            records.append(self._record(r, pool[chosen], proba[chosen], hidden, classes))
            if self.calibration_ is not None:
                records[-1]["calibration"] = dict(self.calibration_)
            self._say(f"Round {r}: {int(chosen.sum())} pseudo-labels (mean confidence "
                      f"{records[-1]['mean_confidence']:.3f}).")
            fitted = self._fit_members(Z, labels, y, n_classes, anchors=anchors, once=once,
                                       previous=fitted)
        return fitted, records, labels, labeled_iter, termination

    def _record(self, r: int, rows, proba, hidden, classes) -> dict:
        record = {"round": r, "accepted": len(rows), "pseudo_labeled_total": len(rows),
                  "mean_confidence": float(proba.max(axis=1).mean()) if len(rows) else 0.0,
                  "accepted_per_class": {  # as self-training's rounds record it
                      str(c): int(n) for c, n in zip(classes, np.bincount(
                          proba.argmax(axis=1), minlength=len(classes)), strict=True)}}
        if hidden is not None:
            known = hidden[rows] >= 0
            if known.any():
                record["pseudo_label_accuracy"] = float(
                    np.mean(proba.argmax(axis=1)[known] == hidden[rows][known]))
        return record

    # -- stages and members -------------------------------------------------------------------

    def _model_for(self, stage: str):
        """`"final"`, the ensemble; or one member's name, that member alone."""
        if stage == "final":
            return self.model_
        import keras

        names = [layer.name for layer in self.model_.layers]
        if stage not in m.MEMBERS or stage not in names:
            raise InputError(f"stage must be 'final' or a member of this ensemble "
                             f"({[n for n in m.MEMBERS if n in names]}); got {stage!r}.")
        layer = self.model_.get_layer(stage)
        if isinstance(layer, keras.Model):  # the network member: a model of the raw rows
            return layer
        return keras.Model(self.model_.input, layer.output)

    def _say(self, message: str) -> None:
        if self.verbose:
            print(message, flush=True)
