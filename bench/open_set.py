"""Open-set study on the rice set (issue "Seed science", item 3), offline: the detector's best box
of each of the 200 grains is cropped and embedded as the server does; for each variety left out
and k examples of the 4 others, rejection rules are calibrated on the examples alone and scored:
share of the left-out variety rejected, known accuracy before and after rejection.
The first three rules work in the classifier's feature space; the last is the one the server
uses (NACHET_OPEN_SET_LEVEL, 0.99 by default): the classifier itself, its size region
(classifier.SizeModel: a class's own region from 5 examples, a pooled one 10 times stricter below);
the last ones the same region on size and colour (studied, not landed), a scan of the level
for these regions, against the nearest class or the class the classifier names, and regions of
each class's own (shrunk) covariance on size and on size and colour (on size alone, 10
pseudo-examples, from 5 examples per class: landed in SizeModel).
Usage: python bench/open_set.py
"""

import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REAL = ROOT.parent / "shared" / "data" / "real-seeds"

from model_inference.local.classifier import (  # noqa: E402
    HAND_DIM,
    SHAPE_DIM,
    UNKNOWN,
    Examples,
    SeedClassifier,
    SizeModel,
)
from model_inference.local.detector import detect_seeds  # noqa: E402
from model_inference.local.lazy import LazyFeatures  # noqa: E402
from model_inference.pixels import crop_fraction, decode_bgr  # noqa: E402


def rice_features():
    rows = sorted(
        (r for r in csv.DictReader(open(REAL / "manifest.csv")) if r["dataset"] == "rice"),
        key=lambda r: r["file"],
    )
    features, E, H, Y = LazyFeatures(), [], [], []
    for r in rows:
        px = decode_bgr((REAL / r["file"]).read_bytes())
        boxes = detect_seeds(px)
        whole = {"box": {"topX": 0, "topY": 0, "bottomX": 1, "bottomY": 1}}
        box = max(boxes, key=lambda b: b["score"]) if boxes else whole
        e, h = features([crop_fraction(px, box["box"])])
        E.append(e[0])
        H.append(h[0])
        Y.append(r["cls"])
    return np.array(E), np.array(H), np.array(Y)


E, H, Y = rice_features()
CLASSES = sorted(set(Y))
BY_CLASS = {c: [i for i in range(len(Y)) if Y[i] == c] for c in CLASSES}


def nearest_example(V, L, percentile):
    """Reject when the nearest example is farther than the examples' own nearest same-class
    neighbours are (leave-one-out), at this percentile."""
    S = V @ V.T
    np.fill_diagonal(S, -1)
    tau = np.percentile(np.where(L[:, None] == L[None, :], S, -1).max(1), percentile)
    return lambda v: (v @ V.T).max(1) < tau  # noqa: E731


def class_centroid(V, L, percentile):
    """Reject when the cosine to the nearest centroid is below that class's examples' own."""
    k = L.max() + 1
    cents = np.stack([V[L == c].mean(0) for c in range(k)])
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    own = np.einsum("ij,ij->i", V, cents[L])
    taus = np.array([np.percentile(own[L == c], percentile) for c in range(k)])

    def rejects(v):
        cosines = v @ cents.T
        return cosines.max(1) < taus[cosines.argmax(1)]

    return rejects


def mahalanobis(V, L, setting):
    """Reject when the (shrunk, shared-covariance) Mahalanobis distance to every class mean is
    beyond the examples' own at this percentile."""
    percentile, shrink = setting
    means = np.stack([V[L == c].mean(0) for c in range(L.max() + 1)])
    spread = V - means[L]
    precision = np.linalg.inv(spread.T @ spread / len(V) + shrink * np.eye(V.shape[1]))

    def distances(v):
        return np.stack([np.einsum("ij,jk,ik->i", v - m, precision, v - m) for m in means], 1)

    tau = np.percentile(distances(V)[np.arange(len(V)), L], percentile)
    return lambda v: distances(v).min(1) > tau  # noqa: E731


def splits(k):
    """Each variety left out in turn: (left out, the 4 known, k examples of each, their other grains)."""
    for left_out in CLASSES:
        known = [c for c in CLASSES if c != left_out]
        yield (
            left_out,
            known,
            [i for c in known for i in BY_CLASS[c][:k]],
            [i for c in known for i in BY_CLASS[c][k:]],
        )


def scored(k, rejects_for):
    """(unknown rejected, known accuracy, known accuracy with rejection) over the 5 left-out
    varieties, for a rule `rejects_for(classifier, known, train)`: which of these grains
    (indices) it rejects, calibrated on the examples `train` of the `known` varieties alone."""
    rejected = unknowns = right = right_kept = asked = 0
    for left_out, known, train, test in splits(k):
        classifier = SeedClassifier(
            Examples([Y[i] for i in train], {c: c for c in known}, E[train], H[train])
        )
        rejects = rejects_for(classifier, known, train)
        correct = np.array(
            [a[0]["label"] == Y[i] for a, i in zip(classifier.predict(E[test], H[test], 1), test)]
        )
        right += correct.sum()
        right_kept += (correct & ~rejects(test)).sum()
        asked += len(test)
        rejected += rejects(BY_CLASS[left_out]).sum()
        unknowns += len(BY_CLASS[left_out])
    return rejected / unknowns, right / asked, right_kept / asked


def evaluate(k, rule, setting):
    """A rule in the classifier's feature space."""

    def rejects_for(classifier, known, train):
        rejects = rule(classifier._vectors, classifier._labels, setting)
        return lambda indices: rejects(classifier._vectorise(E[indices], H[indices]))

    return scored(k, rejects_for)


def evaluate_size_region(k, level):
    """The same protocol through SeedClassifier(abstain_level=level): a seed is rejected when the
    classifier answers "Unknown seed" first."""
    rejected = unknowns = right = right_kept = asked = 0
    for left_out, known, train, test in splits(k):
        examples = Examples([Y[i] for i in train], {c: c for c in known}, E[train], H[train])
        plain, abstaining = SeedClassifier(examples), SeedClassifier(examples, abstain_level=level)
        named = [a[0]["label"] for a in plain.predict(E[test], H[test], 1)]
        kept = [a[0]["label"] for a in abstaining.predict(E[test], H[test], 2)]
        right += sum(n == Y[i] for n, i in zip(named, test))
        right_kept += sum(n == Y[i] for n, i in zip(kept, test))
        asked += len(test)
        unknown = BY_CLASS[left_out]
        answers = abstaining.predict(E[unknown], H[unknown], 2)
        rejected += sum(a[0]["label"] == UNKNOWN for a in answers)
        unknowns += len(unknown)
    return rejected / unknowns, right / asked, right_kept / asked


RULES = (
    (nearest_example, (5, 10, 20)),
    (class_centroid, (5, 10, 20)),
    (mahalanobis, ((90, 1e-2), (95, 1e-2), (99, 1e-2), (95, 1e-1), (99, 1e-1))),
)
for k in (5, 10):
    for rule, settings in RULES:
        for setting in settings:
            unknown, plain, kept = evaluate(k, rule, setting)
            drop = 100 * (plain - kept)
            print(f"k={k} {rule.__name__} {setting}: unknown rejected {unknown:.0%}, ", end="")
            print(f"known accuracy {plain:.0%} -> {kept:.0%} (drop {drop:.1f} points)", flush=True)
for k in (3, 5, 10):
    for level in (0.98, 0.99, 0.995, 0.999):  # the server's default: 0.99
        unknown, plain, kept = evaluate_size_region(k, level)
        drop = 100 * (plain - kept)
        print(f"k={k} size region (NACHET_OPEN_SET_LEVEL={level}): unknown rejected {unknown:.0%}, ", end="")
        print(f"known accuracy {plain:.0%} -> {kept:.0%} (drop {drop:.1f} points)", flush=True)

# The size region with colour too (not landed: chosen among many settings on these same photos,
# it reaches the figure at k=10 only). Columns of the hand features (features.py).
COLUMNS = {"log length": -5, "log width": -4, "L mean": 0, "a mean": 1, "b mean": 2}


def evaluate_columns(k, level, names, predicted=False):
    """The size region's rule (SizeModel's maths) on other columns of the hand features; with
    `predicted`, a seed is tested against the region of the class the classifier names instead
    of the nearest one (a misnamed known seed then costs nothing when rejected: it was wrong)."""
    model_class = type("Columns", (SizeModel,), {"DIMS": len(names)})
    columns = np.zeros((len(Y), HAND_DIM))
    start = HAND_DIM - SHAPE_DIM
    columns[:, start : start + len(names)] = H[:, [COLUMNS[n] for n in names]]

    def rejects_for(classifier, known, train):
        labels = np.array([known.index(Y[i]) for i in train])
        region = model_class.fit(columns[train], labels, len(known))
        assert region is not None, "too few examples for a region"
        region.own = [None] * len(known)  # the pooled region, as studied (2026-12-01)

        def rejects(indices):
            unlike = region.unlikeness(columns[indices], region.t2(columns[indices]))
            if predicted:
                named = [known.index(a[0]["label"]) for a in classifier.predict(E[indices], H[indices], 1)]
                unlike = np.where(np.eye(len(known), dtype=bool)[named], unlike, 1.0)  # only that class
            return unlike.min(1) > level

        return rejects

    return scored(k, rejects_for)


for names in (
    ["log length", "log width", "b mean"],
    ["log length", "log width", "L mean", "a mean", "b mean"],
):
    for k in (3, 5, 10):
        unknown, plain, kept = evaluate_columns(k, 0.99, names)
        print(f"k={k} region on {', '.join(names)} (0.99): unknown rejected {unknown:.0%}, ", end="")
        print(
            f"known accuracy {plain:.0%} -> {kept:.0%} (drop {100 * (plain - kept):.1f} points)", flush=True
        )


# The trade-off over the level (2026-12-01): the region on size, on size and colour, and with the
# classifier's answer's region instead of the nearest one ("predicted"), at k=5 and k=10. Rejected
# share of the unknown variety / points of known accuracy lost; the issue asks >= 80 % / <= 3.
print("level:", *(f"{level:>16}" for level in (0.98, 0.99, 0.995, 0.999)))
for names in (
    ["log length", "log width"],
    ["log length", "log width", "b mean"],
    ["log length", "log width", "a mean", "b mean"],
    ["log length", "log width", "L mean", "a mean", "b mean"],
):
    for predicted, rule in ((False, "nearest"), (True, "predicted")):
        cells = []
        for level in (0.98, 0.99, 0.995, 0.999):
            figures = []
            for k in (5, 10):
                unknown, plain, kept = evaluate_columns(k, level, names, predicted)
                figures.append(f"{unknown:.0%}/{100 * (plain - kept):.1f}")
            cells.append(" ".join(figures))
        print(f"{', '.join(names)} ({rule}; k=5 k=10):", *cells, flush=True)


# A region per class: each class's own covariance, shrunk toward the pooled one with `pseudo`
# pseudo-examples, its F quantile on n - 1 + pseudo degrees of freedom. Rejected share of the
# unknown variety / points of known accuracy lost, at k=3, 5, 10. On size alone with 10
# pseudo-examples it is SizeModel's from 5 examples per class (the size region rows above).
def per_class_unlikeness(X, labels, classes, pseudo, queries):
    from scipy.special import fdtr

    p = X.shape[1]
    means = np.stack([X[labels == c].mean(0) for c in range(classes)])
    residuals = X - means[labels]
    pooled = residuals.T @ residuals / max(1, len(X) - classes)
    pooled += 0.01 * np.diag(np.diag(pooled)) + 1e-9 * np.eye(p)
    unlike = []
    for c in range(classes):
        own = residuals[labels == c]
        n, nu = len(own), len(own) - 1 + pseudo
        precision = np.linalg.inv((own.T @ own + pseudo * pooled) / nu)
        delta = queries - means[c]
        t2 = np.einsum("nd,de,ne->n", delta, precision, delta) / (1 + 1 / n)
        unlike.append(fdtr(p, nu - p + 1, t2 * (nu - p + 1) / (nu * p)))
    return np.min(np.stack(unlike, 1), 1)


def evaluate_per_class(k, level, names, pseudo):
    columns = H[:, [COLUMNS[n] for n in names]].astype(np.float64)

    def rejects_for(classifier, known, train):
        labels = np.array([known.index(Y[i]) for i in train])
        return (
            lambda indices: per_class_unlikeness(columns[train], labels, len(known), pseudo, columns[indices])
            > level
        )

    return scored(k, rejects_for)


for names, pseudo, level in (
    (["log length", "log width"], 10, 0.98),
    (["log length", "log width"], 5, 0.98),
    (["log length", "log width", "a mean", "b mean"], 10, 0.99),
    (["log length", "log width", "a mean", "b mean"], 20, 0.995),
):
    figures = []
    for k in (3, 5, 10):
        unknown, plain, kept = evaluate_per_class(k, level, names, pseudo)
        figures.append(f"{unknown:.0%}/{100 * (plain - kept):.1f}")
    print(f"per-class region on {', '.join(names)}, {pseudo} pseudo-examples, {level} (k=3 5 10):", *figures)
