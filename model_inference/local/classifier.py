"""The built-in classifier that learns from labelled uploads and verified feedback (local-models §2d).

Each example is a seed crop's features with the seed the user gave it. Prediction is k-NN on
cosine similarity while classes are small, and a softmax regression once every class has
`LINEAR_FROM` examples, either averaged with the nearest class mean's answer. Answers are the
classifier protocol's top-N list of {label, score} with names from the seed table; with no
examples at all the answer is "Unknown seed".

Each class's size region (`SizeModel`) adds a weak size prior to every answer and, at the
abstain level (NACHET_OPEN_SET_LEVEL, 0.99 unless turned off), makes a seed outside every region
"Unknown seed", answered first with the learned classes after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .open_world import OpenWorld, per_class_max

UNKNOWN = "Unknown seed"
LINEAR_FROM = 10  # examples per class before the linear model takes over
TEMPERATURE = 0.05  # softmax over k-NN cosine similarities
NEAR_DUPLICATE = 0.95  # a crop this close to a labelled one takes that label, whatever the model
HAND_WEIGHT = 0.6  # share of the hand-made features next to the embedding
SHAPE_WEIGHT = 5.0  # the 5 size-and-shape features among the hand-made ones (features.py)
SHAPE_DIM = 5
HAND_DIM = 61 + SHAPE_DIM  # as features.py (not imported here: it loads OpenCV and ONNX)
OWN_REGIONS_FROM = 5  # examples of a class before its size region has its own spread
OWN_PSEUDO = 10  # pseudo-examples of the pooled spread in each class's own (few examples: mostly pooled)
POOLED_STRICTNESS = 10  # a pooled region abstains at 1 - (1 - level) / 10 (SizeModel.outside)
NEIGHBOURS = 10  # nearest examples returned per crop: evidence keeps the first 3 a caller may see
SIZE_PRIOR = 0.1  # weight of -T²/2 (SizeModel) in the logits: rice k=3/5 +2-3 points, microscope set ±0


@dataclass
class Examples:
    seed_ids: list  # one per example
    names: dict  # seed id -> seed name
    embeddings: np.ndarray | None  # [N,1280] (None when some example has no embedding)
    hand: np.ndarray  # [N,66] (61 before shape features: older rows, padded with NaN)
    ids: list | None = None  # the stored examples' ids (evidence), else their positions
    pictures: list | None = None  # the picture each came from (None: each its own)


@dataclass
class Answer:
    """One crop's answer: the classifier protocol's top-N, best first; the prediction set (labels
    holding the true one with probability `set_level`, "Unknown seed" among them when the seed
    may be of an untaught species); the nearest examples as (example id, similarity)."""

    top_n: list[dict]
    prediction_set: list[str] = field(default_factory=list)
    neighbours: list[tuple[Any, float]] = field(default_factory=list)


class SizeModel:
    """Where each learned class's seeds lie in (log length, log width): class means and one pooled
    covariance, so a crop's Hotelling T² to each class says how far its size is from that class's.
    It serves twice: a weak size prior on every answer (SIZE_PRIOR), and the open set, where a
    crop beyond every class's prediction region at `level` (an F quantile: few examples give a
    wide region, not a trigger-happy one) is "unlike every learned class"; a class with
    OWN_REGIONS_FROM examples has a region of its own spread (a pooled region abstains only at a
    stricter level: `outside`). With fewer than 4
    degrees of freedom there is no model. Measured on the rice set: bench/open_set.py."""

    DIMS = 2

    def __init__(self, shape: np.ndarray, labels: np.ndarray, classes: int):
        x = shape[:, : self.DIMS].astype(np.float64)
        counts = np.bincount(labels, minlength=classes)
        self.means = np.stack([x[labels == c].mean(0) for c in range(classes)])
        residuals = x - self.means[labels]
        self.dof = len(x) - classes
        covariance = residuals.T @ residuals / max(1, self.dof)
        covariance += 0.01 * np.diag(np.diag(covariance)) + 1e-9 * np.eye(self.DIMS)
        self.precision = np.linalg.inv(covariance)
        self.inflation = 1 + 1 / counts  # a new seed against a mean estimated from n of them
        # a class with OWN_REGIONS_FROM examples gets a region of its own spread (shrunk toward
        # the pooled one by OWN_PSEUDO pseudo-examples): uniform grains get a tight region, varied
        # ones a wide region (rice at k=10, 0.99: 80 % of an untaught variety answered unknown for
        # 0.8 points, against 69 % for 1.8 pooled); classes with fewer keep the pooled region
        self.own: list[tuple[np.ndarray, int] | None] = []
        for c in range(classes):
            spread = residuals[labels == c]
            nu = len(spread) - 1 + OWN_PSEUDO
            own = (spread.T @ spread + OWN_PSEUDO * covariance) / nu
            self.own.append((np.linalg.inv(own), nu) if len(spread) >= OWN_REGIONS_FROM else None)

    @classmethod
    def fit(cls, hand: np.ndarray, labels: np.ndarray, classes: int) -> SizeModel | None:
        if hand.shape[1] < HAND_DIM or np.isnan(hand[:, -SHAPE_DIM:]).any():
            return None  # examples from before the shape features
        if len(hand) - classes < cls.DIMS + 2:
            return None
        return cls(hand[:, -SHAPE_DIM:], labels, classes)

    def _log_size(self, hand: np.ndarray) -> np.ndarray:
        return hand[:, -SHAPE_DIM:][:, : self.DIMS].astype(np.float64)

    def t2(self, hand: np.ndarray) -> np.ndarray:
        """[crops, classes] Hotelling T² of each crop's size to each class (pooled spread)."""
        delta = self._log_size(hand)[:, None, :] - self.means[None, :, :]
        return np.einsum("ncd,de,nce->nc", delta, self.precision, delta) / self.inflation[None, :]

    def unlikeness(self, hand: np.ndarray, t2: np.ndarray) -> np.ndarray:
        """[crops, classes] the probability that a seed of each class would lie closer to its
        class than this crop does (0.5 typical of a seed of that class, -> 1 unlike it); `t2` is
        `t2(hand)`."""
        from scipy.special import fdtr

        def beyond(t2: np.ndarray, nu: int) -> np.ndarray:  # the F distribution of T² on nu dof
            return fdtr(self.DIMS, nu - self.DIMS + 1, t2 * (nu - self.DIMS + 1) / (nu * self.DIMS))

        unlike = beyond(t2, self.dof)
        x = self._log_size(hand)
        for c, own in enumerate(self.own):
            if own is not None:
                delta = x - self.means[c]
                own_t2 = np.einsum("nd,de,ne->n", delta, own[0], delta) / self.inflation[c]
                unlike[:, c] = beyond(own_t2, own[1])
        return unlike

    def outside(self, unlike: np.ndarray, level: float) -> np.ndarray:
        """[crops] whether each crop is beyond every class's region: a region of the class's own
        spread at `level`, a pooled one (a class of few examples) at a level POOLED_STRICTNESS
        times stricter (rice, all 5 varieties taught at k=3: 1.1 points of known accuracy lost
        against 3.8 at `level`)."""
        own = np.array([o is not None for o in self.own])
        levels = np.where(own, level, 1 - (1 - level) / POOLED_STRICTNESS)
        return np.asarray((unlike > levels[None, :]).all(1))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(1, keepdims=True))
    return exp / exp.sum(1, keepdims=True)


class SeedClassifier:
    def __init__(
        self, examples: Examples | None = None, abstain_level: float | None = None, set_level: float = 0.9
    ):
        """`abstain_level`: answer "Unknown seed" for seeds outside every class's size region at
        this level (SizeModel); None never abstains. `set_level`: the prediction sets' coverage."""
        self.classes: list = []
        self.names: dict = {}
        self.size = 0
        # fitted arrays (numpy), None until there are examples
        self._vectors: Any = None
        self._labels: Any = None
        self._weights: Any = None
        self._prototypes: Any = None  # [classes, D] unit mean vector of each class
        self._sizes: SizeModel | None = None
        self._abstain_level = abstain_level
        self._set_level = set_level
        self._open_world: OpenWorld | None = None
        self._ids: list = []
        self._mean: Any = None
        self._std: Any = None
        self._use_embedding = False
        if examples is not None and examples.seed_ids:
            self._fit(examples)

    @property
    def mode(self) -> str:
        return "empty" if not self.size else ("linear" if self._weights is not None else "knn")

    def _vectorise(self, embeddings: np.ndarray | None, hand: np.ndarray) -> np.ndarray:
        hand = hand[:, : len(self._mean)]  # examples older than some features: compare what both have
        hand_z = (hand - self._mean) / self._std / np.sqrt(hand.shape[1])
        if hand.shape[1] > SHAPE_DIM + 60:
            hand_z[:, -SHAPE_DIM:] *= SHAPE_WEIGHT
        if self._use_embedding and embeddings is not None:
            return _unit(np.hstack([embeddings, HAND_WEIGHT * hand_z]))
        return _unit(hand_z)

    def _fit(self, ex: Examples) -> None:
        self.classes = sorted(set(ex.seed_ids), key=str)
        self.names = dict(ex.names)
        index = {c: i for i, c in enumerate(self.classes)}
        self._labels = np.array([index[s] for s in ex.seed_ids])
        hand = ex.hand
        if np.isnan(hand).any():  # older examples lack the newer features: the mean stands in
            filled = np.where(np.isnan(hand), np.nanmean(hand, axis=0), hand)
            hand = np.nan_to_num(filled)
        self._mean = hand.mean(0)
        self._std = np.maximum(hand.std(0), 1e-3)
        self._use_embedding = ex.embeddings is not None
        self._vectors = self._vectorise(ex.embeddings, hand)
        self._prototypes = _unit(
            np.stack([self._vectors[self._labels == c].mean(0) for c in range(len(self.classes))])
        )
        self.size = len(ex.seed_ids)
        self._sizes = SizeModel.fit(ex.hand, self._labels, len(self.classes))
        counts = np.bincount(self._labels, minlength=len(self.classes))
        if len(self.classes) >= 2 and counts.min() >= LINEAR_FROM:
            self._weights = self._train_linear(self._vectors, self._labels, len(self.classes))
        self._ids = list(ex.ids) if ex.ids is not None else list(range(self.size))
        codes: dict = {}  # each picture as a number: crops of one picture share theirs
        pictures = np.array([codes.setdefault(p, len(codes)) for p in (ex.pictures or range(self.size))])
        self._open_world = OpenWorld(
            self._vectors,
            self._labels,
            pictures,
            len(self.classes),
            TEMPERATURE,
            self._size_p_values,
            ex.hand,
            self._set_level,
        )

    def _size_p_values(self, hand: np.ndarray) -> np.ndarray:
        """[crops, classes] how typical each crop's size is of each class (ones without sizes)."""
        if self._sizes is None or hand.shape[1] < HAND_DIM or np.isnan(hand[:, -SHAPE_DIM:]).any():
            return np.ones((len(hand), len(self.classes)))
        return 1 - self._sizes.unlikeness(hand, self._sizes.t2(hand))

    @staticmethod
    def _train_linear(
        x: np.ndarray, y: np.ndarray, k: int, steps: int = 300, rate: float = 2.0, l2: float = 1e-3
    ) -> np.ndarray:
        """Multinomial logistic regression by full-batch gradient descent (class-balanced)."""
        x1 = np.hstack([x, np.ones((len(x), 1))])
        w = np.zeros((x1.shape[1], k))
        onehot = np.eye(k)[y]
        balance = (len(y) / (k * np.bincount(y, minlength=k)))[y][:, None]
        for _ in range(steps):
            logits = x1 @ w
            logits -= logits.max(1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(1, keepdims=True)
            w -= rate * (x1.T @ ((p - onehot) * balance) / len(y) + l2 * w)
        return w

    def _latest_correction_wins(self, similarity: np.ndarray) -> np.ndarray:
        """Among the examples nearly identical to a crop, the latest (highest id: rows come in id
        order) is the user's last word on that seed; earlier ones with another label no longer
        count for that crop."""
        near = similarity >= NEAR_DUPLICATE
        if not near.any():
            return similarity
        latest = np.where(near, np.arange(similarity.shape[1]), -1).max(1)
        label = self._labels[np.maximum(latest, 0)]
        superseded = near & (self._labels[None, :] != label[:, None]) & (latest >= 0)[:, None]
        return np.where(superseded, -1.0, similarity)

    def predict(self, embeddings: np.ndarray | None, hand: np.ndarray, top_n: int = 5) -> list[list[dict]]:
        """Top-N {label, score} per crop, best first."""
        return [a.top_n for a in self.answer(embeddings, hand, top_n)]

    def answer(self, embeddings: np.ndarray | None, hand: np.ndarray, top_n: int = 5) -> list[Answer]:
        """Per crop: its top-N (the first one's score calibrated in an open world: open_world.py),
        its prediction set and its nearest examples."""
        if not self.size:
            return [Answer([{"label": UNKNOWN, "score": 1.0}], [UNKNOWN]) for _ in range(len(hand))]
        vectors = self._vectorise(embeddings if self._use_embedding else None, hand)
        similarity = self._latest_correction_wins(vectors @ self._vectors.T)
        per_class = per_class_max(similarity, self._labels, len(self.classes))
        logits = per_class / TEMPERATURE
        if self._weights is not None:
            # the linear model, except for crops nearly identical to a labelled example: one
            # correction must change the next answer for the same seed
            linear = np.hstack([vectors, np.ones((len(vectors), 1))]) @ self._weights
            logits = np.where(similarity.max(1, keepdims=True) >= NEAR_DUPLICATE, logits, linear)
        t2 = self._sizes.t2(hand) if self._sizes is not None and hand.shape[1] >= HAND_DIM else None
        prior = SIZE_PRIOR / 2 * t2 if t2 is not None else 0.0
        probabilities = _softmax(logits - prior)
        # averaged with the nearest class mean's answer, which few examples estimate with less
        # variance than either model alone (rice: +1 grain at k=3 and k=10, -1 at k=5); not for
        # near duplicates, whose latest correction decides
        nearest_mean = _softmax(vectors @ self._prototypes.T / TEMPERATURE - prior)
        near = similarity.max(1) >= NEAR_DUPLICATE
        probabilities = np.where(near[:, None], probabilities, (probabilities + nearest_mean) / 2)
        named = probabilities.argmax(1)
        assert self._open_world is not None  # fitted with the examples
        judged = self._open_world.judge(per_class, hand, named, probabilities[np.arange(len(named)), named])
        # a near duplicate of a labelled example is that example's seed: no abstention (nor any
        # when the open set is off)
        untaught = np.where(near | (self._abstain_level is None), 0.0, judged.untaught)
        unlike = self._unlike(hand, t2, similarity)
        nearest = np.argsort(-similarity, axis=1)[:, :NEIGHBOURS]
        answers = []
        for j, row in enumerate(probabilities):
            first = float(max(judged.right[j], row[named[j]]) if near[j] else judged.right[j])
            unknown: float | None = None  # the score of "Unknown seed" when it comes first
            if unlike[j]:  # beyond every class's size region
                unknown = first = float(unlike[j])
            elif untaught[j] > self._open_world.abstain_above:  # unlike every class's examples
                unknown = first = float(untaught[j])
            order = [int(c) for c in np.argsort(-row)[: top_n - 1 if unknown is not None else top_n]]
            # the first answer's score is calibrated; the others share what is left, as the model
            # ranks them
            rest = row[order[1:] if unknown is None else order]
            left = (1 - first) * rest / max(float(rest.sum()), 1e-12) * (1 - untaught[j])
            scores = [first, *left] if unknown is None else list(left)
            listed = [
                {"label": self.names[self.classes[c]], "score": round(float(sc), 4)}
                for c, sc in zip(order, scores)
            ]
            if unknown is not None:
                listed.insert(0, {"label": UNKNOWN, "score": round(unknown, 4)})
            members = [self.names[self.classes[c]] for c in judged.members[j]]
            if judged.unknown_member[j] or unknown is not None or not members:
                members.append(UNKNOWN)
            neighbours = [
                (self._ids[i], round(float(similarity[j, i]), 4)) for i in nearest[j] if similarity[j, i] > -1
            ]
            answers.append(Answer(listed, members, neighbours))
        return answers

    def _unlike(self, hand: np.ndarray, t2: np.ndarray | None, similarity: np.ndarray) -> list[float]:
        """Per crop, its unlikeness when it is beyond every class's size region, else 0 (a crop
        nearly identical to a labelled example is known, whatever its size)."""
        level = self._abstain_level
        if self._sizes is None or t2 is None or level is None:
            return [0.0] * len(similarity)
        unlike = self._sizes.unlikeness(hand, t2)
        odd = self._sizes.outside(unlike, level) & (similarity.max(1) < NEAR_DUPLICATE)
        return [float(u) if o else 0.0 for u, o in zip(unlike.min(1), odd)]
