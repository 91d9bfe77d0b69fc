"""The interface every consistency-regularization algorithm implements.

An algorithm is a `keras.layers.Layer` so that its state (class-wise thresholds, running
means, an EMA teacher) lives in Keras variables: it is saved with the model's checkpoints,
updated inside the compiled training step, and mapped by Keras on every backend. It owns no
network: `SemiSupervisedModel` runs the student and hands the algorithm the outputs.

One training step, for a batch of `B` labeled and `uratio * B` unlabeled images:

1. `SemiSupervisedModel.call` makes one student pass over the concatenation of the labeled,
   weak and (if `uses_strong`) strong views, so that BatchNorm sees one batch. For an
   algorithm with `weak_is_target`, `separate_weak_pass=True` moves the weak view to a second
   pass with no gradient.
2. `Algorithm.losses(model, batch, outputs, labels, step)` returns the supervised and
   unsupervised terms, the mask and the pseudo-labels. Targets come from `targets.py`, always
   through `stop_gradient`.
3. The model adds `lambda_u * unsupervised` (after `warmup_steps` of linear ramp-up) to the
   supervised loss, and Keras takes the gradient.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import keras
from keras import ops

from fewlabels.errors import InputError


def _leave_as_is(algorithm: Algorithm) -> None:
    """The fresh state already gives the mask the conformance suite wants."""


@dataclasses.dataclass(frozen=True)
class ConformanceCase:
    """How the conformance suite (`fewlabels.testing.conformance`) drives an algorithm.

    Every algorithm class carries one as `conformance`; the default fits an algorithm with a
    confidence mask that uniform predictions leave off.

    Attributes:
        unsupervised: False for an algorithm without an unsupervised term (its gradient must
            always be zero).
        mask_on: sets the algorithm's state before the mask-on check (for confident
            predictions).
        mask_off: sets the algorithm's state so that uniform predictions are all masked off;
            None when no such state exists (soft weights are never exactly 0; Mean Teacher
            has no mask).
    """

    unsupervised: bool = True
    mask_on: Callable[[Algorithm], None] = _leave_as_is
    mask_off: Callable[[Algorithm], None] | None = _leave_as_is


class Algorithm(keras.layers.Layer):
    """Base class of the algorithms in the registry.

    Subclasses set `registry_name` and `summary` (the line `fewlabels methods` and the docs
    show), implement `unsupervised`, and may add state in `build_state` and a `conformance`
    case. A module in `fewlabels/algorithms/` holding a subclass decorated with `@register` is
    found and registered on import, with no other edit.

    Args:
        lambda_u: the weight of the unsupervised term.
        warmup_steps: steps over which the unsupervised weight ramps linearly from 0 to
            `lambda_u` (0: full weight from the first step, or `ramp_fraction`'s ramp).
        ramp_fraction: with `warmup_steps=0`, the share of the fit's planned steps over
            which the weight ramps (the fit calls `plan`).
    """

    registry_name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    conformance: ClassVar[ConformanceCase] = ConformanceCase()
    """How the conformance suite drives this algorithm."""
    uses_strong: ClassVar[bool] = True
    """Whether the step needs the strong view of the unlabeled batch."""
    uses_weak: ClassVar[bool] = True
    """Whether the step needs the student's pass over the weak view: False for the
    supervised baseline (its step then costs a supervised step) and for Mean Teacher (its
    teacher, not the student, sees the weak view)."""
    weak_is_target: ClassVar[bool] = False
    """True when the algorithm reads the student's weak-view outputs only as targets, through
    `stop_gradient` (FixMatch, FlexMatch, FreeMatch, SoftMatch). The model may then give the
    weak view a pass of its own with no backward pass (`separate_weak_pass`). Pseudo-Label,
    which trains the weak view itself, is False."""
    has_unsupervised_term: ClassVar[bool] = True
    """False only for the supervised baseline (no mask, no pseudo-labels to monitor)."""
    owns_forward: ClassVar[bool] = False
    """True for an algorithm that makes its own student passes (MixMatch's MixUp): the model
    then calls `forward` instead of its one shared pass."""
    needs_weak_view: ClassVar[bool] = True
    """Whether anything reads the unlabeled images' weak view (the student or a teacher):
    False lets the stream skip making it (Distill)."""
    needs_targets: ClassVar[bool] = False
    """True for an algorithm that learns from a teacher's stored predictions (Distill): it
    has `set_targets`, and `ConsistencyTraining.fit` needs `unlabeled_targets`."""
    strong_view: ClassVar[str] = "strong"
    renamed: ClassVar[dict[str, str]] = {}
    """Hyperparameters an earlier release named otherwise, `{old: new}`: still read (with a
    `FutureWarning`), so that saved models and `config.json` files of that release work."""
    """The policy `ConsistencyTraining` uses for the second view with `strong="auto"`."""

    def __init__(self, lambda_u: float = 1.0, warmup_steps: int = 0,
                 ramp_fraction: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not lambda_u >= 0:
            raise InputError(f"lambda_u must be >= 0; got {lambda_u!r}.")
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise InputError(f"warmup_steps must be an integer >= 0; got {warmup_steps!r}.")
        if not 0.0 <= ramp_fraction <= 1.0:
            raise InputError(f"ramp_fraction must be in [0, 1]; got {ramp_fraction!r}.")
        self.lambda_u = float(lambda_u)
        self.warmup_steps = warmup_steps
        self.ramp_fraction = float(ramp_fraction)
        self.ramp_steps = warmup_steps
        self.n_classes = None

    def plan(self, total_steps: int) -> None:
        """Fix the ramp of the unsupervised weight for a fit of `total_steps` steps:
        `warmup_steps`, else `ramp_fraction` of them."""
        self.ramp_steps = self.warmup_steps or round(self.ramp_fraction * total_steps)

    # -- state ---------------------------------------------------------------------------------

    def build_state(self, n_classes: int, n_unlabeled: int, student: keras.Model) -> None:
        """Create the algorithm's variables before training (never inside the compiled step).

        Args:
            n_classes: the number of classes.
            n_unlabeled: the size of the unlabeled pool (for per-sample state).
            student: the student network (for teachers that copy it).
        """
        self.n_classes = n_classes

    def add_state(self, name: str, shape: tuple, value: float, dtype: str = "float32"):
        """A non-trainable state variable of the algorithm, filled with `value`.

        Each variable is initialized on its own (a `Constant` initializer): two variables
        assigned one array would share a buffer, which JAX's compiled step refuses.

        Across the replicas of a distributed step the state reduces as "only the first
        replica's": an algorithm updates it from statistics of the whole global batch
        (`fewlabels.replicas.gathered`), so every replica computes the same value, and the
        variable keeps the first one's (Keras's default, "none", would let each replica's
        copy drift, and a checkpoint would save one of them).

        Args:
            name: the variable's name (checkpoints and saved models find it by name).
            shape: its shape.
            value: its initial value, everywhere.
            dtype: its dtype.

        Returns:
            The Keras variable.

        Example:
        ```python
        self.p_model = self.add_state("p_model", (n_classes,), 1.0 / n_classes)
        ```
        """
        return self.add_weight(shape=shape, initializer=keras.initializers.Constant(value),
                               dtype=dtype, trainable=False, name=name,
                               aggregation="only_first_replica")

    def after_step(self, student: keras.Model, step) -> None:
        """Called inside the compiled step after the weights are updated (from the model's
        `train_step`, never from `compute_loss`): update teachers and the like.

        Args:
            student: the student network.
            step: the number of this training step, counting from 1 (a scalar tensor).
        """

    # -- the loss ------------------------------------------------------------------------------

    def unsupervised(self, weak, strong, batch: dict, student: keras.Model) -> dict:
        """The unsupervised term for one batch.

        Args:
            weak: the student's probabilities on the weak views, `(uB, n_classes)`.
            strong: its probabilities on the strong views (None unless `uses_strong`).
            batch: the input dict (`index` of each unlabeled image, its `weak` and `strong`
                views), for algorithms that need more than the outputs.
            student: the student network (for teachers and extra passes).

        Returns:
            A dict with `loss` (a scalar), `mask` (`(uB,)` weights in [0, 1]) and
            `pseudo_labels` (`(uB,)` class indices).
        """
        raise NotImplementedError

    def forward(self, student: keras.Model, inputs: dict, training: bool) -> dict:
        """The student's outputs for a training batch, for algorithms with `owns_forward`.

        Args:
            student: the student network.
            inputs: the batch dict (with `labels`, the labeled images' class indices).
            training: the training flag.

        Returns:
            A dict with `labeled` (probabilities whose supervised loss is taken), optionally
            `labeled_targets` (soft targets for them, instead of the labels), `weak` (the
            probabilities `unsupervised` receives) and whatever `unsupervised` reads from
            `batch["outputs"]`.
        """
        raise NotImplementedError

    def weight(self, step):
        """The unsupervised weight at `step`: `lambda_u`, ramped over the planned steps."""
        if self.ramp_steps == 0:
            return ops.convert_to_tensor(self.lambda_u, "float32")
        ramp = ops.minimum(ops.cast(step, "float32") / float(self.ramp_steps), 1.0)
        return self.lambda_u * ramp

    # -- config --------------------------------------------------------------------------------

    def collapse_advice(self) -> str:
        """What to try when pseudo-labels collapse onto a class (the run's warning says
        it); an algorithm that already does something names something else."""
        return advice(["class-wise thresholds (--method flexmatch or freematch)",
                       MORE_LABELS])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(lambda_u=self.lambda_u, warmup_steps=self.warmup_steps,
                      ramp_fraction=self.ramp_fraction)
        return config

    def hyperparameters(self) -> dict:
        """The algorithm's own settings (its config without Keras's layer keys)."""
        skip = {"name", "trainable", "dtype"}
        return {k: v for k, v in self.get_config().items() if k not in skip}


MORE_LABELS = "more labels of the classes it neglects"


def advice(options: list[str]) -> str:
    """`"Consider a, b or c."`: what a collapse warning suggests."""
    return "Consider " + (", ".join(options[:-1]) + " or " if len(options) > 1 else "") \
        + options[-1] + "."


def masked_cross_entropy(targets, probs, mask):
    """`mean_b(mask_b * CE(targets_b, probs_b))` over the whole batch, as FixMatch defines it.

    It is a `keras.losses` object with `sample_weight`, so that `tf.distribute` scales it per
    replica correctly (a hand-written mean would not).
    """
    return keras.losses.CategoricalCrossentropy()(targets, probs, sample_weight=mask)


def ema_assign(variable, value, momentum) -> None:
    """`variable <- momentum * variable + (1 - momentum) * value`, inside the compiled step.

    `momentum` is a float or a scalar tensor (`warmed_up_momentum`). A variable that is not
    a float (a `Normalization` layer's int64 count) is copied, not averaged."""
    if "float" not in str(variable.dtype):
        variable.assign(ops.cast(value, variable.dtype))
        return
    momentum = ops.cast(momentum, variable.dtype)
    variable.assign(momentum * variable + (1.0 - momentum) * ops.cast(value, variable.dtype))


def warmed_up_momentum(momentum: float, updates, warmup: float):
    """The momentum of a weight average's `updates`-th update (1 for the first), warmed up.

    `min(momentum, updates / (updates + warmup))`: the average first spans roughly the last
    `updates / warmup` steps and widens until it reaches the `1 / (1 - momentum)` steps of
    `momentum`. Without a warm-up, an average with momentum 0.999 still gives the initial,
    random weights a share of `0.999 ** n`: 37% after 1,000 updates, and the averaged network
    stays near chance long after the one it averages has learned (docs/consistency.md).

    - `warmup=1` is Mean Teacher's rule (the authors' code: `alpha = min(1 - 1 /
      (global_step + 1), alpha)`, "use the true average until the exponential average is
      more correct"): the plain mean of the initial weights and every update so far.
    - `warmup=9` is TensorFlow's `ExponentialMovingAverage(num_updates=...)` rule,
      `min(decay, (1 + n) / (10 + n))` with `n = updates - 1`: it tracks the recent weights
      more closely, which suits an average used to evaluate the network being trained.
    - `warmup=0` gives `momentum` from the first update (no warm-up).

    Args:
        momentum: the momentum once warmed up, in [0, 1).
        updates: the number of this update, counting from 1 (an int or a scalar tensor).
        warmup: the warm-up's pace, >= 0 (larger: slower to reach `momentum`).

    Returns:
        A float32 scalar tensor.

    Example:
    ```python
    momentum = warmed_up_momentum(0.999, model.step, 9.0)  # 0.1 at the first update
    ema_assign(shadow, variable, momentum)
    ```
    """
    if warmup == 0:
        return ops.convert_to_tensor(momentum, "float32")
    n = ops.cast(updates, "float32")
    return ops.minimum(ops.convert_to_tensor(momentum, "float32"), n / (n + warmup))
