"""What the built-in classifier's examples say about its own answers (issue "Trustworthy answers"):
how often an answer like this one is right, whether the seed may be of a species never taught,
and which labels a prediction set must hold. All of it is fitted on the examples themselves.

Two simulations per example, on the examples of *other* pictures (a picture's own crops would make
every seed look typical): the seed as a taught one (its class keeps its other examples) and as an
untaught one (its whole class left out: only "Unknown seed" would be right). Each case is
described by three numbers about the class the k-NN answer names:
  * the k-NN probability (softmax of per-class nearest similarities), as a logit;
  * how typical its nearest similarity is of that class: log(1 - similarity) is modelled per class
    as normal (class means shrunk to the pooled one, one pooled spread), and the upper tail of a
    new seed (t predictive) is its typicality p-value;
  * its size p-value (classifier.SizeModel), when there is a size model.
Two logistic regressions on these cases, weighted so that untaught seeds make UNTAUGHT_PRIOR of
them, give P(the named label is right) and P(the seed is of an untaught species). Prediction sets
are split-conformal on the same cases: the label sets of 1 - k-NN probability (class by class
once a class has enough cases), and "Unknown seed" unless the seed looks more taught than `level`
of the untaught cases do. Chosen on the even-numbered rice grains and 5 of the 10 microscope
species of ../shared/data/real-seeds; bench/open_set.py --calibration prints the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNTAUGHT_PRIOR = 0.2  # share of seeds of untaught species the scores are calibrated for
ABSTAIN_ABOVE = 0.65  # "Unknown seed" first when P(untaught) is above this
TAUGHT_LOSS = 0.03  # ... and above what this share of the taught simulations reached
MAX_CASES = 600  # examples simulated (a stratified sample beyond): fitting stays ~50 ms
SHRINK = 3.0  # pseudo-examples of the pooled mean in each class's typical distance
CLASS_SETS_FROM = 20  # taught cases of a class before its prediction sets are its own


def per_class_max(similarity: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """[rows, classes] the nearest similarity to each class (-1 where a class has none)."""
    out = np.full((similarity.shape[0], classes), -1.0)
    order = np.argsort(labels, kind="stable")  # columns grouped by class: one reduceat
    present = np.bincount(labels, minlength=classes) > 0
    if present.any() and similarity.shape[0]:
        starts = np.searchsorted(labels[order], np.flatnonzero(present))
        out[:, present] = np.maximum.reduceat(similarity[:, order], starts, axis=1)
    return out


def knn_probabilities(nearest: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of per-class nearest similarities; classes without examples (-1) get none."""
    present = nearest > -1
    logits = np.where(present, nearest / temperature, -np.inf)
    logits = logits - logits.max(1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(1, keepdims=True)


class Typicality:
    """How typical a nearest similarity is of a class: the upper tail of log(1 - similarity)."""

    def __init__(self, own: np.ndarray, labels: np.ndarray, classes: int):
        distance = np.log(np.maximum(1 - own, 1e-4))
        pooled = distance.mean()
        counts = np.bincount(labels, minlength=classes)
        sums = np.bincount(labels, weights=distance, minlength=classes)
        self.means = (sums + SHRINK * pooled) / (counts + SHRINK)
        self.dof = max(1, len(distance) - 1)
        self.spread = max(float(np.sqrt(((distance - self.means[labels]) ** 2).sum() / self.dof)), 0.05)
        self.counts = counts + SHRINK

    def p_values(self, nearest: np.ndarray) -> np.ndarray:
        from scipy.stats import t

        distance = np.log(np.maximum(1 - nearest, 1e-4))
        z = (distance - self.means[None, :]) / (self.spread * np.sqrt(1 + 1 / self.counts[None, :]))
        return np.asarray(t.sf(z, self.dof))


def _logistic_fit(x: np.ndarray, target: np.ndarray, weight: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """Weighted L2-regularised logistic regression by Newton steps (intercept not penalised)."""
    x1 = np.hstack([x, np.ones((len(x), 1))])
    beta = np.zeros(x1.shape[1])
    penalty = l2 * np.eye(len(beta))
    penalty[-1, -1] = 1e-6
    for _ in range(25):
        p = 1 / (1 + np.exp(-np.clip(x1 @ beta, -30, 30)))
        gradient = x1.T @ (weight * (p - target)) + penalty @ beta
        hessian = (x1 * (weight * p * (1 - p))[:, None]).T @ x1 + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-6:
            break
    return beta


def _logistic(beta: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(np.hstack([x, np.ones((len(x), 1))]) @ beta, -30, 30)))


def _describe(
    probabilities: np.ndarray, typical: np.ndarray, size: np.ndarray, named: np.ndarray
) -> np.ndarray:
    rows = np.arange(len(named))
    top = np.clip(probabilities[rows, named], 1e-4, 1 - 1e-4)
    return np.stack(
        [
            np.log(top / (1 - top)),
            np.log(np.maximum(typical[rows, named], 1e-6)),
            np.log(np.maximum(size[rows, named], 1e-6)),
        ],
        1,
    )


def _conformal_threshold(scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile: a new score is at most this with probability >= level."""
    n = len(scores)
    rank = int(np.ceil((n + 1) * level))
    return float(np.sort(scores)[rank - 1]) if rank <= n else np.inf


@dataclass
class Judgement:
    """Per crop: P(named label right), P(untaught species), the taught labels of the prediction
    set (class indices, in the order given) and whether "Unknown seed" belongs to it."""

    right: np.ndarray
    untaught: np.ndarray
    members: list[list[int]]
    unknown_member: np.ndarray


class OpenWorld:
    def __init__(
        self,
        vectors: np.ndarray,
        labels: np.ndarray,
        pictures: np.ndarray,
        classes: int,
        temperature: float,
        size_p,  # hand features -> [n, classes] size p-values (ones without a size model)
        hand: np.ndarray,
        level: float,
    ):
        self.classes, self.temperature, self.size_p, self.level = classes, temperature, size_p, level
        self.counts = np.bincount(labels, minlength=classes)
        cases = _stratified(labels, MAX_CASES)
        similarity = vectors[cases] @ vectors.T
        similarity[pictures[cases][:, None] == pictures[None, :]] = -2.0  # other pictures only
        nearest = per_class_max(similarity, labels, classes)
        truth = labels[cases]
        own = nearest[np.arange(len(cases)), truth]
        taught = own > -1  # a class with examples on other pictures: simulated as taught
        self.typicality = Typicality(own[taught], truth[taught], classes) if taught.sum() >= 3 else None
        typical = self._typical(nearest)
        size = size_p(hand[cases])
        described, right, untaught, weight = [], [], [], []
        if taught.any():
            p = knn_probabilities(nearest[taught], temperature)
            named = p.argmax(1)
            described.append(_describe(p, typical[taught], size[taught], named))
            right.append(named == truth[taught])
            untaught.append(np.zeros(taught.sum()))
            weight.append(np.full(taught.sum(), (1 - UNTAUGHT_PRIOR) / taught.sum()))
            self.class_scores = 1 - p[np.arange(len(named)), truth[taught]]  # conformal, taught
            self.class_of_score = truth[taught]
        else:
            self.class_scores = np.zeros(0)
            self.class_of_score = np.zeros(0, int)
        if classes >= 2:  # each example as if its class had never been taught
            hidden = np.where(np.eye(classes, dtype=bool)[truth], -1.0, nearest)
            p = knn_probabilities(hidden, temperature)
            named = p.argmax(1)
            described.append(_describe(p, typical, size, named))
            right.append(np.zeros(len(cases), bool))
            untaught.append(np.ones(len(cases)))
            weight.append(np.full(len(cases), UNTAUGHT_PRIOR / len(cases)))
        self.right_model = self.untaught_model = None
        self.untaught_right: np.ndarray = np.zeros(0)
        self.abstain_above = ABSTAIN_ABOVE
        if described:
            x = np.vstack(described)
            is_right, is_untaught = np.concatenate(right).astype(float), np.concatenate(untaught)
            w = np.concatenate(weight)
            w = w / w.mean()
            if 0 < is_right.sum() < len(is_right) and len(x) >= 4:
                self.right_model = _logistic_fit(x, is_right, w)
            if 0 < is_untaught.sum() < len(is_untaught) and len(x) >= 4:
                self.untaught_model = _logistic_fit(x, is_untaught, w)
                if self.right_model is not None:  # how taught the untaught cases looked
                    self.untaught_right = _logistic(self.right_model, x[is_untaught == 1])
                # abstain no more often than TAUGHT_LOSS of the taught cases would
                seen_taught = _logistic(self.untaught_model, x[is_untaught == 0])
                if len(seen_taught):
                    self.abstain_above = max(ABSTAIN_ABOVE, float(np.quantile(seen_taught, 1 - TAUGHT_LOSS)))
        self.pooled_threshold = (
            _conformal_threshold(self.class_scores, level) if len(self.class_scores) else np.inf
        )
        self.class_thresholds = np.array(
            [
                _conformal_threshold(self.class_scores[self.class_of_score == c], level)
                if (self.class_of_score == c).sum() >= CLASS_SETS_FROM
                else self.pooled_threshold
                for c in range(classes)
            ]
        )
        self.unknown_threshold = (
            _conformal_threshold(self.untaught_right, level) if len(self.untaught_right) else np.inf
        )

    def _typical(self, nearest: np.ndarray) -> np.ndarray:
        return self.typicality.p_values(nearest) if self.typicality is not None else np.ones_like(nearest)

    def judge(
        self, nearest: np.ndarray, hand: np.ndarray, named: np.ndarray, fallback: np.ndarray
    ) -> Judgement:
        """For crops with these per-class nearest similarities, whose answer names `named` (class
        indices) with raw probability `fallback` (used when too few examples to fit anything)."""
        p = knn_probabilities(nearest, self.temperature)
        x = _describe(p, self._typical(nearest), self.size_p(hand), named)
        if self.right_model is not None:
            right = _logistic(self.right_model, x)
        else:  # nothing to learn from yet: one example cannot make a sure answer
            n = self.counts[named]
            right = fallback * n / (n + 1)
        untaught = _logistic(self.untaught_model, x) if self.untaught_model is not None else np.zeros(len(x))
        ranked = np.argsort(-p, axis=1)
        members = [
            [int(c) for c in order if 1 - row[c] <= self.class_thresholds[c]] for row, order in zip(p, ranked)
        ]
        # "Unknown seed" stays in the set unless the seed looks more taught than `level` of the
        # untaught cases did
        unknown_member = right <= self.unknown_threshold
        return Judgement(right, untaught, members, unknown_member)


def _stratified(labels: np.ndarray, most: int) -> np.ndarray:
    """At most `most` indices, every class's spread evenly (deterministic)."""
    if len(labels) <= most:
        return np.arange(len(labels))
    chosen = []
    share = most / len(labels)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        keep = max(1, round(len(members) * share))
        chosen.append(members[np.linspace(0, len(members) - 1, keep).round().astype(int)])
    return np.sort(np.concatenate(chosen))
