"""MixMatch (Berthelot et al., NeurIPS 2019): guessed labels, sharpening and MixUp.

Algorithm 1 of the paper, for a batch of `B` labeled images and `uB` unlabeled ones:

1. Guess a label for each unlabeled image: the student's average prediction over K = 2
   augmentations (here the stream's two views, both weak for MixMatch: see
   `strong_view`), sharpened with temperature T = 0.5, through `stop_gradient`.
2. Shuffle all `B + 2uB` augmented images with their targets (one-hot labels, guesses), and
   MixUp each set with that shuffle: `lam ~ Beta(alpha, alpha)`, `lam' = max(lam, 1 - lam)`
   (so a mixed image stays closest to its own), one `lam` per batch as in the authors' code.
3. One student pass over the mixed labeled and unlabeled images (so BatchNorm sees them as
   one batch, which is what the paper's interleaving achieves across devices).
4. Loss: cross-entropy on the mixed labeled images plus `lambda_u` times the mean squared
   error between the mixed guesses and the predictions on the mixed unlabeled images.

Defaults follow the paper (section 4, CIFAR-10): T = 0.5, K = 2, alpha = 0.75,
`lambda_u` = 75, ramped up linearly over the first 16,000 steps. On a CPU budget of a few
thousand steps, pass a shorter `warmup_steps` (docs/consistency.md).

Because the mixed images are a different forward pass from the one other algorithms share,
MixMatch owns its forward pass (`owns_forward`). With `lambda_u=0` it makes the plain
supervised pass and mixes nothing: the unlabeled images then influence nothing, as the
conformance suite requires of every algorithm.
"""

from __future__ import annotations

from typing import ClassVar

import keras
from keras import ops

from fewlabels import targets
from fewlabels.algorithms.base import Algorithm, ConformanceCase
from fewlabels.algorithms.registry import register
from fewlabels.errors import InputError


def symmetric_beta(alpha: float, generator, candidates: int = 256):
    """One draw of `Beta(alpha, alpha)` that compiles under XLA (Johnk's method).

    `keras.random.beta` samples gammas, which TensorFlow's XLA cannot compile. Johnk's
    method is exact: with `X = U ** (1 / alpha)` and `Y = V ** (1 / alpha)` for uniforms U, V,
    the first pair with `0 < X + Y <= 1` gives `X / (X + Y)`. Here `candidates` pairs are
    drawn at once (a static shape) and the first accepted one is kept; each is accepted with
    probability `Gamma(alpha + 1)^2 / Gamma(2 alpha + 1)` (0.64 at MixMatch's 0.75, 0.17 at
    2), so that all are rejected is beyond reach for `alpha <= 2` (0.83^256 < 1e-20). If it
    happens, the draw is 0.5.
    """
    u = keras.random.uniform((candidates, 2), minval=1e-12, maxval=1.0, seed=generator)
    xy = ops.power(u, 1.0 / alpha)
    total = ops.sum(xy, axis=1)
    accepted = (total <= 1.0) & (total > 0.0)
    first = ops.argmax(ops.cast(accepted, "int32"))
    draw = xy[first, 0] / ops.maximum(total[first], 1e-30)
    return ops.where(ops.any(accepted), draw, 0.5)


def mixup(x, y, x_other, y_other, lam):
    """`lam * (x, y) + (1 - lam) * (x_other, y_other)` (pure; MixMatch equations 8-11)."""
    lam_x, lam_y = ops.cast(lam, x.dtype), ops.cast(lam, y.dtype)
    return lam_x * x + (1.0 - lam_x) * x_other, lam_y * y + (1.0 - lam_y) * y_other


@register
class MixMatch(Algorithm):
    """MixMatch.

    Args:
        lambda_u: the weight of the unlabeled (MSE) term.
        warmup_steps: linear ramp-up of `lambda_u`.
        temperature: the sharpening temperature T.
        mixup_alpha: the Beta distribution's parameter for MixUp, in (0, 2] (the papers'
            `alpha`, 0.75; USB's name; earlier releases called it `alpha`, which is still
            read, with a `FutureWarning`).
        mixup_seed: seeds the MixUp draws and shuffles; None (default) draws it from the
            run's seed (`keras.utils.set_random_seed`, which every estimator calls).
    """

    registry_name = "mixmatch"
    summary = "sharpened guesses over 2 views, MixUp of labeled and unlabeled images (2019)"
    conformance = ConformanceCase(mask_off=None)  # no mask: every image counts
    owns_forward = True
    strong_view = "weak"
    # label spreading's `alpha` is another thing
    renamed: ClassVar[dict[str, str]] = {"alpha": "mixup_alpha"}

    def __init__(self, lambda_u: float = 75.0, warmup_steps: int = 16000,
                 temperature: float = 0.5, mixup_alpha: float = 0.75,
                 mixup_seed: int | None = None, **kwargs) -> None:
        if "alpha" in kwargs:  # an earlier release's name (a saved model, a config.json)
            import warnings

            mixup_alpha = kwargs.pop("alpha")
            warnings.warn("MixMatch's alpha is now mixup_alpha (--mixup-alpha).",
                          FutureWarning, stacklevel=2)
        super().__init__(lambda_u=lambda_u, warmup_steps=warmup_steps, **kwargs)
        if not 0 < temperature <= 1:
            raise InputError(f"temperature must be in (0, 1]; got {temperature!r}.")
        if not 0 < mixup_alpha <= 2:
            raise InputError(f"mixup_alpha must be in (0, 2]; got {mixup_alpha!r}.")
        self.temperature = float(temperature)
        self.mixup_alpha = float(mixup_alpha)
        self.mixup_seed = mixup_seed
        self.generator = None

    def build_state(self, n_classes, n_unlabeled, student) -> None:
        super().build_state(n_classes, n_unlabeled, student)
        self.generator = keras.random.SeedGenerator(self.mixup_seed)

    def forward(self, student, inputs, training) -> dict:
        labeled, u1, u2 = inputs["labeled"], inputs["weak"], inputs["strong"]
        n_l, n_u = ops.shape(labeled)[0], ops.shape(u1)[0]
        if self.lambda_u == 0:  # no unlabeled influence at all (see the module docstring)
            probs = student(ops.concatenate([labeled, u1], axis=0), training=training)
            guess = ops.stop_gradient(probs[n_l:])
            return {"labeled": probs[:n_l], "weak": probs[n_l:], "guess": guess,
                    "mixed_targets": guess}
        one_hot = ops.one_hot(ops.cast(inputs["batch_labels"], "int32"), self.n_classes)
        both = student(ops.concatenate([u1, u2], axis=0), training=training)
        guess = targets.soft_targets((both[:n_u] + both[n_u:]) / 2.0, self.temperature)
        images = ops.concatenate([labeled, u1, u2], axis=0)
        labels = ops.concatenate([ops.cast(one_hot, guess.dtype), guess, guess], axis=0)
        order = keras.random.shuffle(ops.arange(ops.shape(images)[0]), seed=self.generator)
        lam = symmetric_beta(self.mixup_alpha, self.generator)
        lam = ops.maximum(lam, 1.0 - lam)
        mixed, mixed_targets = mixup(images, labels, ops.take(images, order, axis=0),
                                     ops.take(labels, order, axis=0), lam)
        probs = student(mixed, training=training)
        return {"labeled": probs[:n_l], "labeled_targets": mixed_targets[:n_l],
                "weak": probs[n_l:], "mixed_targets": mixed_targets[n_l:], "guess": guess}

    def unsupervised(self, weak, strong, batch, student) -> dict:
        outputs = batch["outputs"]
        loss = keras.losses.MeanSquaredError()(outputs["mixed_targets"], weak)
        guess = outputs["guess"]
        return {"loss": loss, "mask": ops.ones_like(guess[:, 0]),
                "pseudo_labels": ops.argmax(guess, axis=-1)}

    def get_config(self) -> dict:
        return {**super().get_config(), "temperature": self.temperature,
                "mixup_alpha": self.mixup_alpha,
                "mixup_seed": self.mixup_seed}
