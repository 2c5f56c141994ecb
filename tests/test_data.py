"""microgrid.data: seeded generators, the shipped digits, and Dataset.split."""

from __future__ import annotations

import math
import statistics
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid import data
from microgrid.data import Dataset

GENERATORS = {
    "moons": lambda n, seed: data.moons(n, noise=0.1, seed=seed),
    "circles": lambda n, seed: data.circles(n, noise=0.1, factor=0.5, seed=seed),
    "spiral": lambda n, seed: data.spiral(n, classes=3, noise=0.2, seed=seed),
    "blobs": lambda n, seed: data.blobs(n, centers=3, std=1.0, seed=seed),
}


# --- small concrete cases ---


def test_moons_without_noise_lie_on_the_two_half_circles() -> None:
    moons = data.moons(10, noise=0.0, seed=0)
    for (x, y), label in zip(moons.X, moons.y):
        centre = (0.0, 0.0) if label == 0 else (1.0, 0.5)
        assert math.hypot(x - centre[0], y - centre[1]) == pytest.approx(1.0)
        assert (y >= -1e-12) if label == 0 else (y <= 0.5 + 1e-12)  # upper moon, lower moon
    assert sorted(moons.y) == [0] * 5 + [1] * 5


def test_moons_with_an_odd_count_give_the_extra_point_to_class_1() -> None:
    assert data.moons(7, seed=0).y.count(1) == 4


def test_circles_without_noise_have_radius_1_and_factor() -> None:
    circles = data.circles(8, noise=0.0, factor=0.3, seed=0)
    radii = {label: set() for label in (0, 1)}
    for (x, y), label in zip(circles.X, circles.y):
        radii[label].add(round(math.hypot(x, y), 12))
    assert radii == {0: {1.0}, 1: {0.3}}


def test_spiral_makes_any_number_of_classes_shared_evenly() -> None:
    spiral = data.spiral(11, classes=4, noise=0.0, seed=0)
    assert spiral.n_classes == 4
    assert [spiral.y.count(k) for k in range(4)] == [3, 3, 3, 2]
    assert all(math.hypot(*x) <= 1.0 + 1e-12 for x in spiral.X)


def test_blobs_scatter_around_given_centres() -> None:
    blobs = data.blobs(400, centers=[[10.0, 0.0, 0.0], [-10.0, 5.0, 1.0]], std=0.5, seed=3)
    assert blobs.n_features == 3 and blobs.n_classes == 2
    first = [x for x, label in zip(blobs.X, blobs.y) if label == 0]
    assert statistics.fmean(x[0] for x in first) == pytest.approx(10.0, abs=0.1)
    assert statistics.stdev(x[1] for x in first) == pytest.approx(0.5, abs=0.1)


def test_blobs_with_a_count_draw_centres_in_the_box() -> None:
    blobs = data.blobs(30, centers=5, std=0.0, seed=1)
    centres = {tuple(x) for x in blobs.X}
    assert len(centres) == 5
    assert all(-5.0 <= c <= 5.0 for centre in centres for c in centre)


def test_digits_are_the_1797_uci_images_scaled_to_0_1() -> None:
    digits = data.digits()
    assert (len(digits), digits.n_features, digits.n_classes) == (1797, 64, 10)
    assert [digits.y.count(k) for k in range(10)] == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert min(min(x) for x in digits.X) == 0.0 and max(max(x) for x in digits.X) == 1.0
    # the first image is a 0 (its first row is 0 0 5 13 9 1 0 0 in pixel counts)
    assert digits.y[0] == 0
    assert [16 * p for p in digits.X[0][:8]] == [0, 0, 5, 13, 9, 1, 0, 0]


def test_digits_unscaled_keep_the_pixel_counts() -> None:
    raw = data.digits(scaled=False)
    assert raw.X[0][:8] == [0, 0, 5, 13, 9, 1, 0, 0]
    assert max(max(x) for x in raw.X) == 16


def test_digits_split_is_reproducible_and_a_fifth_is_test() -> None:
    train_a, test_a = data.digits().split(0.2, seed=0)
    train_b, test_b = data.digits().split(0.2, seed=0)
    assert (len(train_a), len(test_a)) == (1438, 359)
    assert (train_a.X, test_a.y) == (train_b.X, test_b.y)


def test_split_partitions_the_examples() -> None:
    dataset = Dataset([[float(i)] for i in range(10)], [i % 2 for i in range(10)], n_classes=2)
    train, test = dataset.split(0.3, seed=5)
    assert (len(train), len(test)) == (7, 3)
    assert sorted(x[0] for x in train.X + test.X) == list(range(10))
    assert all(label == int(x[0]) % 2 for x, label in zip(train.X + test.X, train.y + test.y))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.moons(-1), r"n \(the number of examples\) must be non-negative, got -1"),
        (lambda: data.moons(10, noise=-0.1), "noise must be non-negative and finite, got -0.1"),
        (lambda: data.moons(10, noise=math.inf), "noise must be non-negative and finite, got inf"),
        (lambda: data.blobs(10, std=math.nan), "std must be non-negative and finite, got nan"),
        (lambda: data.blobs(10, centers=[[0.0, math.inf]]), r"centers\[0\]\[1\] must be finite, got inf"),
        (lambda: data.circles(10, factor=1.5), r"factor .* must be in \(0, 1\), got 1.5"),
        (lambda: data.spiral(10, classes=0), "classes must be positive, got 0"),
        (lambda: data.blobs(10, centers=0), "centers must be positive, got 0"),
        (lambda: data.blobs(10, centers=[[0.0], [1.0, 2.0]]), "centers must be .* of one dimension"),
        (lambda: Dataset([[1.0]], [0, 1], 2), "X has 1 examples but y has 2 targets"),
        (
            lambda: Dataset([[1.0], [1.0, 2.0]], [0, 1], 2),
            r"examples must all have the same length: X\[0\] has 1 but X\[1\] has 2",
        ),
        (lambda: Dataset([[1.0]], [2], 2), r"labels must be ints in 0..1, got 2 \(y\[0\]\)"),
        (lambda: Dataset([[1.0]], [0], 1).split(1.5), r"test_fraction must be in \[0, 1\], got 1.5"),
    ],
)
def test_bad_arguments_are_refused_with_the_value(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


# --- properties ---


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(GENERATORS)), n=st.integers(0, 60), seed=st.integers(0, 2**32))
def test_generators_are_deterministic_per_seed_and_give_the_requested_count(
    name: str, n: int, seed: int
) -> None:
    first, again = GENERATORS[name](n, seed), GENERATORS[name](n, seed)
    assert (first.X, first.y) == (again.X, again.y)
    assert len(first) == n
    assert all(len(x) == 2 and all(math.isfinite(c) for c in x) for x in first.X)
    # every class gets its share: the counts differ by at most one
    counts = [first.y.count(k) for k in range(first.n_classes)]
    assert max(counts) - min(counts) <= 1


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 60), classes=st.integers(1, 7), seed=st.integers(0, 1000))
def test_spiral_labels_cover_every_class_when_there_are_enough_points(
    n: int, classes: int, seed: int
) -> None:
    spiral = data.spiral(n, classes=classes, seed=seed)
    assert set(spiral.y) == set(range(min(n, classes)))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000))
def test_different_seeds_give_different_noise(seed: int) -> None:
    assert data.moons(20, seed=seed).X != data.moons(20, seed=seed + 1).X


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 40), fraction=st.floats(0.0, 1.0), seed=st.integers(0, 1000))
def test_split_keeps_every_example_once(n: int, fraction: float, seed: int) -> None:
    dataset = Dataset([[float(i)] for i in range(n)], [0] * n, n_classes=1)
    train, test = dataset.split(fraction, seed=seed)
    assert len(test) == round(fraction * n)
    assert sorted(x[0] for x in train.X + test.X) == [float(i) for i in range(n)]
    assert dataset.split(fraction, seed=seed) == (train, test)


def test_a_label_that_is_not_an_int_is_refused() -> None:
    with pytest.raises(TypeError, match=r"y\[1\] must be a class label, an int in 0..1, got float: 0.5"):
        Dataset([[0.0], [1.0]], [0, 0.5], n_classes=2)


def test_numpy_arrays_make_a_dataset() -> None:
    import numpy

    dataset = Dataset(numpy.zeros((3, 2)), numpy.array([0, 1, 0]), n_classes=2)
    assert (len(dataset), dataset.n_features) == (3, 2)


def test_a_dataset_size_must_be_a_whole_number() -> None:
    with pytest.raises(TypeError, match=r"n \(the number of examples\) must be an int, got float: 10.5"):
        data.moons(10.5)  # type: ignore[arg-type]


# --- what a Dataset refuses, where it enters ---


@pytest.mark.parametrize(
    ("X", "y", "n_classes", "error", "message"),
    [
        ([[0.0], [math.nan]], [0, 1], 2, ValueError, r"X\[1\]\[0\] must be finite, got nan"),
        ([[0.0, -math.inf]], [0], 2, ValueError, r"X\[0\]\[1\] must be finite, got -inf"),
        ([[0.0, 10**400]], [0], 2, ValueError, r"X\[0\]\[1\] must be finite, got an int of about 401 digits"),
        ([[0.0], ["1.5"]], [0, 1], 2, TypeError, r"X\[1\]\[0\] must be a real number, got str: '1.5'"),
        ([[0.0], [None]], [0, 1], 2, TypeError, r"X\[1\]\[0\] must be a real number, got NoneType"),
        ([[0.0], [1j]], [0, 1], 2, TypeError, r"X\[1\]\[0\] must be a real number, got complex"),
        ([[0.0], "ab"], [0, 1], 2, TypeError, r"X\[1\] must be a list of numbers, got str: 'ab'"),
        ([[0.0], 1.0], [0, 1], 2, TypeError, r"X\[1\] must be a list of numbers, got float: 1.0"),
        ([[]], [0], 2, ValueError, r"examples need at least one number each; X\[0\] is empty"),
        (
            [[0.0], [1.0]],
            [0, True],
            2,
            TypeError,
            r"y\[1\] must be a class label, an int in 0..1, got bool: True",
        ),
        ([[0.0]], [1.0], 2, TypeError, r"got float: 1.0 \(for real-valued targets, leave n_classes out\)"),
        ([[0.0]], [-1], 2, ValueError, r"labels must be ints in 0..1, got -1"),
        ([[0.0]], [0], 2.5, TypeError, "n_classes must be an int, got float: 2.5"),
        ([[0.0]], [0], True, TypeError, "n_classes must be an int, got bool: True"),
        ([[0.0]], [0], 0, ValueError, "n_classes must be positive, got 0"),
        ([[0.0]], [0], "2", TypeError, "n_classes must be an int, got str: '2'"),
        ((x for x in [[0.0]]), [0], 2, TypeError, "X must be a list, got generator"),
        ([[0.0]], "0", 2, TypeError, "y must be a list, got str: '0'"),
    ],
)
def test_a_dataset_refuses_bad_examples_and_labels_naming_the_first(
    X: Any, y: Any, n_classes: Any, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        Dataset(X, y, n_classes)


def test_a_huge_bad_value_is_shown_cut_short() -> None:
    with pytest.raises(TypeError) as raised:
        Dataset([["x" * 1_000_000]], [0], 2)
    assert len(str(raised.value)) < 200 and "(1,000,002 characters)" in str(raised.value)


def test_bools_are_features_as_a_value_takes_them_but_never_labels_or_targets() -> None:
    assert Dataset([[True, False]], [1], 2).n_features == 2  # Value(True) is 1.0
    with pytest.raises(TypeError, match=r"y\[0\] must be a number, not a bool: True"):
        Dataset([[0.0]], [True])


def test_check_finds_a_bad_example_put_in_after_the_dataset_was_made() -> None:
    dataset = Dataset([[0.0], [1.0], [2.0]], [0, 1, 0], 2)
    dataset.X[2][0] = math.nan  # X is a list: it can change after the check
    with pytest.raises(ValueError, match=r"X\[2\]\[0\] must be finite, got nan"):
        dataset.check()


def test_numpy_features_and_labels_are_checked_like_lists() -> None:
    import numpy

    X = numpy.zeros((3, 2))
    X[2, 1] = numpy.nan
    with pytest.raises(ValueError, match=r"X\[2\]\[1\] must be finite, got .*nan"):
        Dataset(X, numpy.array([0, 1, 0]), 2)
    assert len(Dataset(numpy.ones((3, 2), dtype=int), numpy.array([0, 1, 0]), 2)) == 3


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(st.lists(st.floats(), min_size=2, max_size=2), min_size=1, max_size=8),
)
def test_a_dataset_is_made_exactly_when_every_feature_is_finite(rows: list[list[float]]) -> None:
    labels = [0] * len(rows)
    if all(math.isfinite(x) for row in rows for x in row):
        assert Dataset(rows, labels, 1).X == rows
    else:
        with pytest.raises(ValueError, match="must be finite"):
            Dataset(rows, labels, 1)


# --- regression: real-valued targets ---


def test_without_n_classes_the_targets_are_real_numbers_or_lists_of_them() -> None:
    one = Dataset([[0.0], [1.0]], [0.5, -2.25])
    assert one.n_classes is None and one.y == [0.5, -2.25]
    two = Dataset([[0.0], [1.0]], [[0.5, 1.0], [2.0, 3.0]])
    assert len(two) == 2 and two.n_features == 1
    train, test = Dataset([[float(i)] for i in range(10)], [i / 2 for i in range(10)]).split(0.3, seed=1)
    assert (len(train), len(test)) == (7, 3) and train.n_classes is None
    assert all(y == x[0] / 2 for x, y in zip(train.X + test.X, train.y + test.y))


@pytest.mark.parametrize(
    ("y", "error", "message"),
    [
        ([0.5, math.nan], ValueError, r"y\[1\] must be finite, got nan"),
        ([0.5, "1"], TypeError, r"y\[1\] must be a real number, got str: '1'"),
        (
            [[0.5, 1.0], [2.0]],
            ValueError,
            r"targets must all have the same length: y\[0\] has 2 but y\[1\] has 1",
        ),
        ([[0.5], 1.0], TypeError, r"y\[1\] must be a list of numbers, got float: 1.0"),
        ([0.5, [1.0]], TypeError, r"y\[1\] must be a real number, got list"),
        ([[0.5], [math.inf]], ValueError, r"y\[1\]\[0\] must be finite, got inf"),
    ],
)
def test_real_valued_targets_are_checked_too(y: list[Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Dataset([[0.0], [1.0]], y)
