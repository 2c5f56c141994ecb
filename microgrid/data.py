"""Small datasets: generated from a seed, or shipped in the package; and ``Dataset`` for your own.

Every function returns a ``Dataset`` (``mnist`` a train and a test one): ``X`` a
list of examples (each a list of floats), ``y`` their class labels
``0 .. n_classes-1``. The generators use only ``random.Random(seed)``, so the
same seed gives the same data on every machine, and nothing here needs numpy or
a download. ``read_idx`` reads the IDX files MNIST is distributed in. A
``Dataset`` of your own may also hold real-valued targets, for regression.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import numbers
import os
import random
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from microgrid import checks
from microgrid.display import ELLIPSIS, elided, html_table
from microgrid.engine import Value


@dataclass(frozen=True)
class Dataset:
    """Examples ``X`` (lists of numbers) with targets ``y``: class labels, or real numbers to regress.

    With ``n_classes`` (classification) each target is a class label, an int
    in ``0 .. n_classes-1``. Without it (``n_classes=None``, regression) each
    target is a real number, or a list of real numbers for a model with that
    many outputs (every list the same length), as Keras and PyTorch take
    ``y`` of shape ``(n,)`` or ``(n, k)``.

    Everything is checked when the dataset is made (see ``check``): raises
    ``TypeError`` for the wrong kind of thing (a str feature, a bool or float
    class label, ``n_classes=2.5``) and ``ValueError`` for a wrong value (nan,
    a label out of range, examples of different lengths), naming the first
    bad example.
    """

    X: list[list[float]]
    y: list[Any]
    n_classes: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise unless every example and target is as the class docstring says.

        A dataset is checked when it is made; ``fit`` checks it again before its
        first step, as ``X`` and ``y`` are lists that may have changed since.
        Every feature must be what a ``Value`` holds (a finite real number; bools
        count as 0 and 1), every example the same length, with at least one feature.
        """
        for what, items in (("X", self.X), ("y", self.y)):
            if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sized):
                raise TypeError(f"{what} must be a list, got {type(items).__name__}: {checks.shown(items)}")
        if len(self.X) != len(self.y):
            raise ValueError(f"X has {len(self.X)} examples but y has {len(self.y)} targets")
        if self.n_classes is not None:
            checks.positive_int(self.n_classes, "n_classes")
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {type(self.name).__name__}: {checks.shown(self.name)}")
        _check_rows(self.X, "X", "examples")
        if self.n_classes is not None:
            _check_labels(self.y, self.n_classes)
        elif len(self.y) and _is_row(self.y[0]):
            _check_rows(self.y, "y", "targets")
        else:
            _check_numbers(self.y, "y", bools=False)

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
        checks.between(test_fraction, "test_fraction", 0.0, 1.0)
        order = list(range(len(self)))
        random.Random(seed).shuffle(order)
        n_test = round(test_fraction * len(self))
        return self._subset(order[n_test:]), self._subset(order[:n_test])

    def _subset(self, indices: Sequence[int]) -> Dataset:
        return Dataset([self.X[i] for i in indices], [self.y[i] for i in indices], self.n_classes, self.name)

    def __repr__(self) -> str:
        # the sizes, never the examples: digits has 115,008 numbers
        name = f"name={self.name!r}, " if self.name else ""
        kind = f"classes={self.n_classes}" if self.n_classes is not None else "targets=real (regression)"
        return f"Dataset({name}examples={len(self)}, features={self.n_features}, {kind})"

    def _repr_html_(self) -> str:
        # Jupyter's view: the first and last examples (long ones elided) and the examples per class
        if self.n_classes is None:
            caption = repr(self)
        else:
            per_class = Counter(self.y)
            caption = f"{self!r}; examples per class: " + ", ".join(
                f"{k}: {per_class[k]}" for k in range(self.n_classes)
            )
        features = elided(range(self.n_features))
        columns = ["", *(j if isinstance(j, str) else f"x[{j}]" for j in features), "y"]
        rows = [
            [ELLIPSIS] * len(columns)
            if isinstance(i, str)
            else [i, *(j if isinstance(j, str) else f"{self.X[i][j]:.4g}" for j in features), self.y[i]]
            for i in elided(range(len(self)))
        ]
        return html_table(caption, columns, rows)


def moons(n: int = 100, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaving half circles, micrograd's demo data (like scikit-learn's ``make_moons``).

    Class 0 is the upper moon (half of the unit circle, centred at 0), class 1
    the lower one (centred at (1, 0.5)); ``n // 2`` points in class 0, the rest
    in class 1, evenly spaced along each arc, then moved by Gaussian noise of
    standard deviation ``noise`` and shuffled.
    """
    _check_counts(n, noise, "noise")
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
    _check_counts(n, noise, "noise")
    factor = checks.between(
        factor, "factor (inner radius / outer radius)", 0.0, 1.0, low_open=True, high_open=True
    )
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
    _check_counts(n, noise, "noise")
    classes = checks.positive_int(classes, "classes")
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
    _check_counts(n, std, "std")
    rng = random.Random(seed)
    if not isinstance(centers, Sequence):  # a count of centres
        count = checks.positive_int(centers, "centers")
        centers = [[rng.uniform(-5.0, 5.0), rng.uniform(-5.0, 5.0)] for _ in range(count)]
    if not centers or len({len(c) for c in centers}) != 1:
        raise ValueError(
            f"centers must be a non-empty list of points of one dimension, got {checks.shown(centers)}"
        )
    centers = [
        [checks.finite(c, f"centers[{k}][{j}]") for j, c in enumerate(centre)]
        for k, centre in enumerate(centers)
    ]
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


# --- MNIST: 5,000 images shipped in the package, or the standard files from a folder ---


class DataFileError(ValueError):
    """A data file that is corrupt, truncated or not what it should be; the message names the file."""


# the files shipped: 5,000 images of MNIST's training set, as an IDX pair like MNIST's own
_MNIST_SHIPPED = ("mnist-5k-images-idx3-ubyte.gz", "mnist-5k-labels-idx1-ubyte.gz")
# the standard files, by the start of their names: the training part, then the test part
_MNIST_PARTS = (("train-images", "train-labels"), ("t10k-images", "t10k-labels"))
# pixel byte -> float by lookup: all pixels share 256 float objects (the 5,000 images
# take 35 MB as lists, not 129 MB), and a lookup is twice as fast as a division
_PIXEL_VALUES = {True: tuple(i / 255 for i in range(256)), False: tuple(float(i) for i in range(256))}


def mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    scaled: bool = True,
    test_size: int = 1000,
    seed: int = 0,
) -> tuple[Dataset, Dataset]:
    """MNIST's 28x28 handwritten digits (784 features) as ``(train, test)`` Datasets.

    Without ``path``: 5,000 images shipped with the package, so it works offline
    (the first 500 of each digit in MNIST's training set). They are split
    stratified: ``test_size`` of them (default 1,000) are kept for testing, each
    digit's share of the test set as close as can be to its share of the data
    (100 of each by default), the rest (4,000) train. ``seed`` picks which: the
    same seed always gives the same split. Both sets are shuffled.

    With ``path``: the full MNIST from a folder holding its four standard files,
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each may end in
    ``.gz``; ``train-images.idx3-ubyte`` spellings are found too). The split is
    MNIST's own: 60,000 train, 10,000 test, in the files' order, so
    ``test_size`` and ``seed`` must be left as they are. As lists of floats the
    70,000 images take about 500 MB.

    Each image is row by row, pixel ``28 * r + c`` being row ``r``, column ``c``;
    0 is background, 255 full ink. With ``scaled`` (the default) pixels are
    divided by 255 into [0, 1]; otherwise they are the 0..255 values as floats.
    MNIST is by Yann LeCun and Corinna Cortes, CC BY-SA 3.0 (see
    ``microgrid/datasets/README.md``).

    Raises:
        ValueError: a ``test_size`` that is not an int between 0 and the number
            of images, or ``test_size`` or ``seed`` given with ``path``.
        FileNotFoundError: ``path`` is not a folder, or one of the four files
            is missing from it (the message lists the names looked for).
        DataFileError: (a ValueError) a file is not what it should be: not IDX,
            truncated, the wrong shape or data type, labels that are not digits
            0..9, or not one label per image; the message names the file.

    """
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Integral):
        raise ValueError(f"test_size is a number of test images, an int; got {test_size!r}")
    pixels = _PIXEL_VALUES[bool(scaled)]
    if path is not None:
        if (test_size, seed) != (1000, 0):
            raise ValueError(
                f"test_size and seed choose the split of the 5,000 shipped images; the MNIST files "
                f"in {os.fspath(path)!r} come split already (60,000 train, 10,000 test), "
                f"got test_size={test_size!r}, seed={seed!r}"
            )
        return _mnist_folder(Path(path), pixels)
    folder = resources.files("microgrid") / "datasets"
    images, labels = ((f"microgrid/datasets/{name}", (folder / name).read_bytes()) for name in _MNIST_SHIPPED)
    everything = _mnist_dataset(images, labels, pixels)
    if not 0 <= test_size <= len(everything):
        raise ValueError(f"test_size must be between 0 and {len(everything)}, got {test_size!r}")
    return _stratified_split(everything, int(test_size), seed)


def read_idx(path: str | os.PathLike[str]) -> tuple[tuple[int, ...], bytes]:
    """Read an IDX file of unsigned bytes (MNIST's format), gzipped or not: ``(shape, data)``.

    IDX is a magic number (two zero bytes, a data type code, 0x08 for unsigned
    bytes, and the number of dimensions), each dimension's size as a big-endian
    32-bit unsigned int, then the data, row-major. A gzipped file is recognised
    by its first bytes, whatever its name. ``data`` holds exactly
    ``prod(shape)`` bytes; ``data[i]`` is an int 0..255.

    Raises:
        FileNotFoundError: no file at ``path``.
        DataFileError: (a ValueError) not an IDX file of unsigned bytes: a
            wrong magic number, another data type, a header or data shorter
            than the header says, bytes after the data, or a broken gzip
            stream; the message names the file and the fault.

    """
    return _parse_idx(Path(path).read_bytes(), os.fspath(path))


# IDX data type codes (the magic number's third byte) and what they hold
_IDX_TYPES = {
    0x08: "unsigned bytes",
    0x09: "signed bytes",
    0x0B: "16-bit ints",
    0x0C: "32-bit ints",
    0x0D: "32-bit floats",
    0x0E: "64-bit floats",
}


def _parse_idx(raw: bytes, name: str) -> tuple[tuple[int, ...], bytes]:
    if raw[:2] == b"\x1f\x8b":  # gzip's magic number; an IDX file starts with two zero bytes
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
            raise DataFileError(f"{name}: not a valid gzip file ({error})") from None
    if len(raw) < 4:
        raise DataFileError(f"{name}: {len(raw)} bytes, too short for an IDX file's 4-byte magic number")
    if raw[:2] != b"\0\0":
        raise DataFileError(
            f"{name}: not an IDX file: its magic number is 0x{raw[:4].hex()}, "
            "and an IDX magic number starts with two zero bytes"
        )
    dtype, ndim = raw[2], raw[3]
    if dtype != 0x08:
        holds = _IDX_TYPES.get(dtype, "an unknown data type")
        raise DataFileError(
            f"{name}: holds {holds} (IDX type 0x{dtype:02x}); only unsigned bytes (0x08) are read"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(
            f"{name}: truncated inside its header: {ndim} dimensions need {header} bytes, the file has {len(raw)}"
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    size, stored = math.prod(shape), len(raw) - header
    if stored < size:
        raise DataFileError(
            f"{name}: truncated: its header promises {_dimensions(shape)} = {size:,} bytes of data, "
            f"the file holds {stored:,}"
        )
    if stored > size:
        raise DataFileError(
            f"{name}: {stored - size:,} bytes of trailing garbage after the {size:,} bytes of data "
            f"its header describes ({_dimensions(shape)})"
        )
    return shape, raw[header:]


def _mnist_folder(folder: Path, pixels: Sequence[float]) -> tuple[Dataset, Dataset]:
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder; mnist(path=...) takes the folder holding MNIST's files"
        )
    # every file found before any is read: a missing one is reported at once
    parts = [
        (_mnist_file(folder, images, dimensions=3), _mnist_file(folder, labels, dimensions=1))
        for images, labels in _MNIST_PARTS
    ]
    train, test = (_mnist_dataset(_named(images), _named(labels), pixels) for images, labels in parts)
    if train.n_features != test.n_features and len(train) and len(test):
        raise DataFileError(
            f"{parts[0][0]} has images of {train.n_features} pixels but {parts[1][0]} of {test.n_features}"
        )
    return train, test


def _mnist_file(folder: Path, stem: str, dimensions: int) -> Path:
    # MNIST's own spelling first, then the one some mirrors use; each plain or gzipped
    names = [f"{stem}-idx{dimensions}-ubyte", f"{stem}.idx{dimensions}-ubyte"]
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"no {names[0]} or {names[0]}.gz (nor {names[1]}[.gz]) in {folder}")


def _named(file: Path) -> tuple[str, bytes]:
    return os.fspath(file), file.read_bytes()


def _mnist_dataset(
    images_file: tuple[str, bytes], labels_file: tuple[str, bytes], pixels: Sequence[float]
) -> Dataset:
    """The examples of an IDX pair, each given as (name, contents)."""
    (images_name, images_raw), (labels_name, labels_raw) = images_file, labels_file
    shape, images = _parse_idx(images_raw, images_name)
    if len(shape) != 3 or 0 in shape[1:]:
        raise DataFileError(
            f"{images_name}: shape {_dimensions(shape)}; images need 3 dimensions, count x rows x columns"
        )
    labels_shape, labels = _parse_idx(labels_raw, labels_name)
    if len(labels_shape) != 1:
        raise DataFileError(
            f"{labels_name}: shape {_dimensions(labels_shape)}; labels need 1 dimension, the count"
        )
    count, rows, columns = shape
    if labels_shape[0] != count:
        raise DataFileError(
            f"{images_name} has {count:,} images but {labels_name} has {labels_shape[0]:,} labels"
        )
    if labels and max(labels) > 9:
        index = next(i for i, label in enumerate(labels) if label > 9)
        raise DataFileError(f"{labels_name}: label {labels[index]} at index {index} is not a digit 0..9")
    width = rows * columns
    X = [[pixels[byte] for byte in images[start : start + width]] for start in range(0, count * width, width)]
    return Dataset(X, list(labels), n_classes=10, name="mnist")


def _dimensions(shape: Sequence[int]) -> str:
    return " x ".join(str(size) for size in shape) or "a scalar (0 dimensions)"


def _stratified_split(dataset: Dataset, test_size: int, seed: int) -> tuple[Dataset, Dataset]:
    """(train, test), ``test_size`` examples in test, each class's share of them as close as can be to its share of all."""
    rng = random.Random(seed)
    assert dataset.n_classes is not None  # class labels, which are what is stratified
    members: list[list[int]] = [[] for _ in range(dataset.n_classes)]
    for index, label in enumerate(dataset.y):
        members[label].append(index)
    train: list[int] = []
    test: list[int] = []
    for indices, quota in zip(members, _proportional_counts(test_size, [len(m) for m in members])):
        rng.shuffle(indices)
        test += indices[:quota]
        train += indices[quota:]
    rng.shuffle(train)
    rng.shuffle(test)
    return dataset._subset(train), dataset._subset(test)


def _proportional_counts(total: int, sizes: Sequence[int]) -> list[int]:
    """``total`` shared out in proportion to ``sizes``, in whole numbers that add up to it.

    Each gets the whole part of its exact share; what is left goes one each to
    the largest fractional parts (the lower index first on a tie).
    """
    everyone = sum(sizes)
    if everyone == 0:
        return [0] * len(sizes)
    exact = [total * size for size in sizes]  # shares times `everyone`, kept whole
    counts = [share // everyone for share in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda k: -(exact[k] % everyone))
    for k in by_remainder[: total - sum(counts)]:
        counts[k] += 1
    return counts


# the generators by name; each is called as generate(n, seed=...)
GENERATORS: dict[str, Callable[..., Dataset]] = {
    "moons": moons,
    "circles": circles,
    "spiral": spiral,
    "blobs": blobs,
}


def _check_counts(n: int, noise: float, noise_name: str) -> None:
    checks.non_negative_int(n, "n (the number of examples)")
    checks.non_negative(noise, noise_name)


def _is_row(item: object) -> bool:
    """A list of numbers (one example, or several targets), not a lone number or a string."""
    return isinstance(item, Sized) and not isinstance(item, (str, bytes, Mapping))


def _check_rows(rows: Sequence[Any], what: str, kind: str) -> None:
    # every row a list of finite numbers, all of one length, at least one
    width = None
    for i, row in enumerate(rows):
        if not _is_row(row):
            raise TypeError(
                f"{what}[{i}] must be a list of numbers, got {type(row).__name__}: {checks.shown(row)}"
            )
        if width is None:
            width = len(row)
            if width == 0:
                raise ValueError(f"{kind} need at least one number each; {what}[0] is empty")
        elif len(row) != width:
            raise ValueError(
                f"{kind} must all have the same length: {what}[0] has {width} but {what}[{i}] has {len(row)}"
            )
        _check_numbers(row, f"{what}[{i}]", bools=what == "X")


def _check_numbers(values: Sequence[Any], what: str, bools: bool) -> None:
    """Raise unless every item is a finite real number a Value can hold, naming the first that is not."""
    try:
        total = sum(values, 0.0)
    except Exception:  # a str, None, a huge int, an odd type: found one by one below
        total = math.nan
    # the usual case at C speed: only real numbers add up to a finite float
    if (
        isinstance(total, float)
        and total - total == 0.0
        and (bools or not any(type(v) is bool for v in values))
    ):
        return
    for j, value in enumerate(values):
        if isinstance(value, bool) and not bools:
            raise TypeError(
                f"{what}[{j}] must be a number, not a bool: {value!r} (for classes, give n_classes)"
            )
        try:
            Value(value)  # what a Value can hold is the engine's rule: ask it rather than copy it
        except TypeError:
            raise TypeError(
                f"{what}[{j}] must be a real number, got {type(value).__name__}: {checks.shown(value)}"
            ) from None
        except (ValueError, OverflowError):
            raise ValueError(f"{what}[{j}] must be finite, got {checks.shown(value)}") from None


def _check_labels(labels: Sequence[Any], n_classes: int) -> None:
    # a label of 0.5 would never equal a predicted class: accuracy would read 0
    for i, label in enumerate(labels):
        if type(label) is not int and not checks.is_int(label):  # type(): the usual case, fast
            regression = " (for real-valued targets, leave n_classes out)" if checks.is_real(label) else ""
            raise TypeError(
                f"y[{i}] must be a class label, an int in 0..{n_classes - 1}, "
                f"got {type(label).__name__}: {checks.shown(label)}{regression}"
            )
        if not 0 <= int(label) < n_classes:
            raise ValueError(f"labels must be ints in 0..{n_classes - 1}, got {checks.shown(label)} (y[{i}])")


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
