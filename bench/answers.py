"""Can a lab act on the built-in classifier's answers? (issue "Trustworthy answers"), offline.

Every photo of ../shared/data/real-seeds is cut and embedded once as the server does it (every
detected seed of a teaching photo is an example; an asked photo's answer is its detector's best
box). Then, per set and k (k teaching photos per class, the others asked):
  * closed: every class taught; top-1, mean prediction-set size and coverage;
  * open: some classes never taught (microscope: 3 of 10, or 2 of 5 within a part, 40 choices at
    most; rice: 1 of 5, each in turn), their seeds right only if answered "Unknown seed":
    taught top-1 (abstentions count as wrong), share of untaught answered "Unknown seed",
    expected calibration error of the first score (10 bins), how many answers scored >= 0.9 and
    how many of them were right, coverage and size of the prediction sets.
Parts: every choice of the classifier was made on the "tune" part (the even-numbered grains of
each rice variety; 5 of the 10 microscope species, alternating by name); "held" is the rest,
never looked at while tuning; "all" is the whole set (the issue's protocol: 7 taught + 3).
Usage: python bench/answers.py [--root CHECKOUT] [--parts tune,held,all] [--close-ups]
(--root: another checkout's classifier, for before/after; its features are cut by this one.)
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REAL = HERE.parent.parent / "shared" / "data" / "real-seeds"
UNKNOWN = "Unknown seed"


def cut_and_embed(close_ups: bool = False) -> dict:
    """Every photo's crops and features; with `close_ups`, each photo is first cropped to its
    seed's box shrunk by 4 % a side (bench/close_ups.py): one seed filling the frame."""
    sys.path.insert(0, str(HERE.parent))
    from close_ups import close_up

    from model_inference.local.detector import detect_seeds
    from model_inference.local.lazy import LazyFeatures
    from model_inference.local.learned import MAX_SEEDS_PER_UPLOAD
    from model_inference.pixels import crop_fraction, decode_bgr

    rows = sorted(csv.DictReader(open(REAL / "manifest.csv")), key=lambda r: r["file"])
    features = LazyFeatures()
    photos: dict[str, list] = {key: [] for key in ("file", "cls", "set", "teach", "ask")}
    for r in rows:
        pixels = decode_bgr((REAL / r["file"]).read_bytes())
        if close_ups:
            seeds = detect_seeds(pixels)
            if seeds:
                pixels = close_up(pixels, max(seeds, key=lambda b: b["score"])["box"], 0.04)
        found = detect_seeds(pixels)[:MAX_SEEDS_PER_UPLOAD]
        crops = [crop_fraction(pixels, b["box"]) for b in found] or [pixels]
        e, h = features(crops)
        best = max(range(len(found)), key=lambda i: found[i]["score"]) if found else 0
        for key, value in (("file", r["file"]), ("cls", r["cls"]), ("set", r["dataset"])):
            photos[key].append(value)
        photos["teach"].append((e, h))
        photos["ask"].append((e[best], h[best]))
    sys.path.pop(0)
    return photos


def part(photos: dict, name: str, which: str) -> list[int]:
    chosen = [i for i, s in enumerate(photos["set"]) if s == name]
    if which == "all":
        return chosen
    first = 0 if which == "tune" else 1
    if name == "rice":
        out = []
        for c in sorted({photos["cls"][i] for i in chosen}):
            mine = sorted((i for i in chosen if photos["cls"][i] == c), key=lambda i: photos["file"][i])
            out += mine[first::2]
        return out
    species = sorted({photos["cls"][i] for i in chosen})[first::2]
    return [i for i in chosen if photos["cls"][i] in species]


def episodes(photos: dict, indices: list[int], k: int, untaught: int):
    by_class: dict[str, list[int]] = {}
    for i in sorted(indices, key=lambda i: photos["file"][i]):
        by_class.setdefault(photos["cls"][i], []).append(i)
    classes = sorted(by_class)
    combos = list(itertools.combinations(classes, untaught)) if untaught else [()]
    if len(combos) > 40:
        combos = combos[:: len(combos) // 40][:40]
    for left_out in combos:
        taught = [c for c in classes if c not in left_out]
        if all(len(by_class[c]) > k for c in taught):
            teach = [i for c in taught for i in by_class[c][:k]]
            ask = [i for c in taught for i in by_class[c][k:]] + [i for c in left_out for i in by_class[c]]
            yield teach, ask, taught


def answers_of(module, photos: dict, teach: list[int], ask: list[int]):
    """(first label, first score, prediction set) per asked photo, from `module`'s classifier."""
    e, h, labels, pictures = [], [], [], []
    for i in teach:
        for vector, hand in zip(*photos["teach"][i]):
            e.append(vector)
            h.append(hand)
            labels.append(photos["cls"][i])
            pictures.append(i)
    names = {c: c for c in set(labels)}
    try:
        examples = module.Examples(labels, names, np.array(e), np.array(h), pictures=pictures)
    except TypeError:  # a checkout from before evidence: no pictures
        examples = module.Examples(labels, names, np.array(e), np.array(h))
    model = module.SeedClassifier(examples, abstain_level=0.99)
    ask_e = np.array([photos["ask"][i][0] for i in ask])
    ask_h = np.array([photos["ask"][i][1] for i in ask])
    if hasattr(model, "answer"):
        return [
            (a.top_n[0]["label"], a.top_n[0]["score"], a.prediction_set) for a in model.answer(ask_e, ask_h)
        ]
    return [(a[0]["label"], a[0]["score"], [a[0]["label"]]) for a in model.predict(ask_e, ask_h)]


def ece(scores: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    which = np.minimum((scores * bins).astype(int), bins - 1)
    return float(
        sum(
            (which == b).mean() * abs(scores[which == b].mean() - right[which == b].mean())
            for b in range(bins)
            if (which == b).any()
        )
    )


def measure(module, photos: dict, indices: list[int], k: int, untaught: int) -> dict:
    rows = []
    for teach, ask, taught in episodes(photos, indices, k, untaught):
        for i, (label, score, members) in zip(ask, answers_of(module, photos, teach, ask)):
            truth = photos["cls"][i] if photos["cls"][i] in taught else UNKNOWN
            rows.append((truth != UNKNOWN, label == truth, score, truth in members, len(members)))
    known, right, score, covered, size = (np.array(column, dtype=float) for column in zip(*rows))
    taught, sure = known == 1, score >= 0.9
    return {
        "top1": right[taught].mean(),
        "unknown": right[~taught].mean() if (~taught).any() else np.nan,
        "ece": ece(score, right),
        "sure": f"{int(sure.sum())} at {right[sure].mean():.0%}" if sure.any() else "0",
        "cover": covered.mean(),
        "size": size.mean(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, default=HERE.parent)
    parser.add_argument("--parts", default="tune,held,all")
    parser.add_argument("--close-ups", action="store_true", help="every photo cropped to its seed first")
    args = parser.parse_args()
    photos = cut_and_embed(args.close_ups)
    sys.path.insert(0, str(args.root.resolve()))
    for name in [n for n in list(sys.modules) if n.startswith("model_inference")]:
        del sys.modules[name]  # the classifier of --root, not this checkout's
    from model_inference.local import classifier

    print(f"classifier: {Path(classifier.__file__).resolve()}")
    print(
        "| set | part | k | closed top-1 | closed set size, coverage | open: taught top-1 "
        "| untaught -> Unknown | ECE | answers >= 0.9, right | set coverage, size |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, ks in (("soilwater", (1, 3)), ("rice", (1, 3, 5, 10))):
        for which in args.parts.split(","):
            untaught = 1 if name == "rice" else (3 if which == "all" else 2)
            for k in ks:
                closed = measure(classifier, photos, part(photos, name, which), k, 0)
                opened = measure(classifier, photos, part(photos, name, which), k, untaught)
                cells = (
                    f"{closed['top1']:.0%}",
                    f"{closed['size']:.2f}, {closed['cover']:.0%}",
                    f"{opened['top1']:.0%}",
                    f"{opened['unknown']:.0%} (of {untaught} untaught)",
                    f"{opened['ece']:.3f}",
                    opened["sure"],
                    f"{opened['cover']:.0%}, {opened['size']:.2f}",
                )
                print(f"| {name} | {which} | {k} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
