"""Small classification datasets: generated from a seed, or shipped in the package.

Every function returns a ``Dataset``: ``X`` a list of examples (each a list of
floats), ``y`` their class labels ``0 .. n_classes-1``. The generators use only
``random.Random(seed)``, so the same seed gives the same data on every machine,
and nothing here needs numpy or a download.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import numbers
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Dataset:
    """Examples ``X`` (lists of floats) with class labels ``y`` in ``0 .. n_classes-1``."""

    X: list[list[float]]
    y: list[int]
    n_classes: int
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.X) != len(self.y):
            raise ValueError(f"X has {len(self.X)} examples but y has {len(self.y)} labels")
        if self.n_classes < 1:
            raise ValueError(f"n_classes must be positive, got {self.n_classes}")
        widths = {len(x) for x in self.X}
        if len(widths) > 1:
            raise ValueError(f"examples must all have the same length, got lengths {sorted(widths)}")
        # a label of 0.5 would never equal a predicted class: accuracy would read 0
        bad = [
            label
            for label in self.y
            if not isinstance(label, numbers.Integral) or not 0 <= label < self.n_classes
        ]
        if bad:
            raise ValueError(f"labels must be ints in 0..{self.n_classes - 1}, got {bad[0]!r}")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_features(self) -> int:
        """The length of each example (0 for an empty dataset)."""
        return len(self.X[0]) if len(self.X) else 0  # len: a numpy X has no truth value

    def split(self, test_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Shuffle with ``seed`` and cut into (train, test); ``test_fraction`` of the examples test.

        The test set has ``round(test_fraction * len(self))`` examples. The same
        seed always gives the same split. Raises ValueError unless
        ``0 <= test_fraction <= 1``.
        """
        if not 0.0 <= test_fraction <= 1.0:
            raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
        order = list(range(len(self)))
        random.Random(seed).shuffle(order)
        n_test = round(test_fraction * len(self))
        return self._subset(order[n_test:]), self._subset(order[:n_test])

    def _subset(self, indices: Sequence[int]) -> Dataset:
        return Dataset([self.X[i] for i in indices], [self.y[i] for i in indices], self.n_classes, self.name)


def moons(n: int = 100, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaving half circles, micrograd's demo data (like scikit-learn's ``make_moons``).

    Class 0 is the upper moon (half of the unit circle, centred at 0), class 1
    the lower one (centred at (1, 0.5)); ``n // 2`` points in class 0, the rest
    in class 1, evenly spaced along each arc, then moved by Gaussian noise of
    standard deviation ``noise`` and shuffled.
    """
    _check_counts(n, noise)
    rng = random.Random(seed)
    upper, lower = _angles(n // 2, math.pi, endpoint=True), _angles(n - n // 2, math.pi, endpoint=True)
    points = [([math.cos(t), math.sin(t)], 0) for t in upper]
    points += [([1.0 - math.cos(t), 0.5 - math.sin(t)], 1) for t in lower]
    return _noisy_shuffled(points, noise, rng, n_classes=2, name="moons")


def circles(n: int = 100, noise: float = 0.1, factor: float = 0.5, seed: int = 0) -> Dataset:
    """A circle inside another (like scikit-learn's ``make_circles``): not linearly separable.

    Class 0 is the outer circle (radius 1, ``n // 2`` points), class 1 the inner
    one (radius ``factor``, the rest), with Gaussian noise of standard
    deviation ``noise``, shuffled. Raises ValueError unless ``0 < factor < 1``.
    """
    _check_counts(n, noise)
    if not 0.0 < factor < 1.0:
        raise ValueError(f"factor (inner radius / outer radius) must be between 0 and 1, got {factor!r}")
    rng = random.Random(seed)
    n_outer = n // 2
    points = [([math.cos(t), math.sin(t)], 0) for t in _angles(n_outer, 2 * math.pi)]
    points += [([factor * math.cos(t), factor * math.sin(t)], 1) for t in _angles(n - n_outer, 2 * math.pi)]
    return _noisy_shuffled(points, noise, rng, n_classes=2, name="circles")


def spiral(n: int = 150, classes: int = 3, noise: float = 0.2, seed: int = 0) -> Dataset:
    """Interleaved spiral arms, one per class (the CS231n spiral), for any number of classes.

    Arm ``k`` winds out from the origin to radius 1; the ``n`` points are shared
    out as evenly as possible (the first ``n % classes`` arms get one more).
    ``noise`` perturbs each point's angle (radians, Gaussian), as CS231n does.
    """
    _check_counts(n, noise)
    if classes < 1:
        raise ValueError(f"classes must be positive, got {classes}")
    rng = random.Random(seed)
    points: list[tuple[list[float], int]] = []
    for k in range(classes):
        size = n // classes + (k < n % classes)
        for i in range(size):
            radius = i / (size - 1) if size > 1 else 1.0
            # each arm turns through 4 radians, starting where the previous one started + 4
            angle = 4.0 * (k + radius) + rng.gauss(0.0, noise)
            points.append(([radius * math.sin(angle), radius * math.cos(angle)], k))
    return _noisy_shuffled(points, 0.0, rng, n_classes=classes, name="spiral")


def blobs(
    n: int = 100,
    centers: int | Sequence[Sequence[float]] = 3,
    std: float = 1.0,
    seed: int = 0,
) -> Dataset:
    """Gaussian clusters, one per class (like scikit-learn's ``make_blobs``).

    ``centers`` is either the number of clusters (their centres then drawn
    uniformly from the square [-5, 5] x [-5, 5]) or the list of centres
    themselves (any dimension, all the same). Each point is its centre plus
    Gaussian noise of standard deviation ``std`` in every coordinate; the ``n``
    points are shared out as evenly as possible.
    """
    _check_counts(n, std)
    rng = random.Random(seed)
    if isinstance(centers, int):
        if centers < 1:
            raise ValueError(f"centers must be positive, got {centers}")
        centers = [[rng.uniform(-5.0, 5.0), rng.uniform(-5.0, 5.0)] for _ in range(centers)]
    if not centers or len({len(c) for c in centers}) != 1:
        raise ValueError(f"centers must be a non-empty list of points of one dimension, got {centers!r}")
    k = len(centers)
    points: list[tuple[list[float], int]] = []
    for label, center in enumerate(centers):
        size = n // k + (label < n % k)
        points += [([float(c) for c in center], label) for _ in range(size)]
    return _noisy_shuffled(points, std, rng, n_classes=k, name="blobs")


def digits(scaled: bool = True) -> Dataset:
    """The 1,797 handwritten digits 0-9 as 8x8 images (64 features), shipped with the package.

    From the UCI "Optical Recognition of Handwritten Digits" data (E. Alpaydin,
    C. Kaynak; CC BY 4.0; see ``microgrid/datasets/README.md``), the same
    examples as scikit-learn's ``load_digits``. Each pixel counts the ink in a
    4x4 block, 0..16; with ``scaled`` (the default) they are divided by 16 into
    [0, 1], the range a network learns from easily. Row by row, pixel
    ``8 * r + c`` is row ``r``, column ``c``. Use ``split`` for a reproducible
    train/test split.
    """
    raw = (resources.files("microgrid") / "datasets" / "digits.csv.gz").read_bytes()
    text = gzip.decompress(raw).decode("ascii")
    scale = 16.0 if scaled else 1.0
    X, y = [], []
    for row in csv.reader(io.StringIO(text)):
        *pixels, label = (int(cell) for cell in row)
        X.append([p / scale for p in pixels])
        y.append(label)
    return Dataset(X, y, n_classes=10, name="digits")


# the generators by name; each is called as generate(n, seed=...)
GENERATORS: dict[str, Callable[..., Dataset]] = {
    "moons": moons,
    "circles": circles,
    "spiral": spiral,
    "blobs": blobs,
}


def _check_counts(n: int, noise: float) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n (the number of examples) must be a non-negative int, got {n!r}")
    if not noise >= 0.0:  # also catches nan
        raise ValueError(f"noise must be non-negative, got {noise!r}")


def _angles(count: int, span: float, endpoint: bool = False) -> list[float]:
    # count angles evenly spaced over [0, span] (endpoint) or [0, span)
    steps = count - 1 if endpoint else count
    return [span * i / steps if steps else 0.0 for i in range(count)]


def _noisy_shuffled(
    points: list[tuple[list[float], int]], noise: float, rng: random.Random, n_classes: int, name: str
) -> Dataset:
    # points are (coordinates, label); Gaussian noise on every coordinate
    rng.shuffle(points)
    X = [[c + rng.gauss(0.0, noise) if noise else c for c in coordinates] for coordinates, _ in points]
    return Dataset(X, [label for _, label in points], n_classes, name)
