"""microgrid.data.mnist and read_idx: the 5,000 shipped digits, their split, and MNIST's own IDX files."""

from __future__ import annotations

import gzip
import hashlib
import math
import re
import struct
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microgrid import data
from microgrid.data import DataFileError, Dataset, read_idx

SHIPPED = resources.files("microgrid") / "datasets"
# the files as committed (see microgrid/datasets/README.md)
SHIPPED_SHA256 = {
    "mnist-5k-images-idx3-ubyte.gz": "c6b100a5a2c03680cfe2ea9a6cb50df61c85444712901c9827140677184ff468",
    "mnist-5k-labels-idx1-ubyte.gz": "86843f81a1849db34cf2a8117f2c27d94bdb2638b0633e53343f198187730267",
}


@pytest.fixture(scope="module")
def everything() -> Dataset:
    """All 5,000 shipped images in one set (a split with nothing held out)."""
    train, test = data.mnist(test_size=0)
    assert len(test) == 0
    return train


def idx(shape: tuple[int, ...], values: bytes | list[int], dtype: int = 0x08) -> bytes:
    """An IDX file's bytes: the magic number, the big-endian sizes, the data."""
    return bytes([0, 0, dtype, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + bytes(values)


def write_mnist(
    folder: Path, train: list[tuple[list[int], int]], test: list[tuple[list[int], int]], gz: bool
) -> None:
    """The four standard files for 2x3 images given as (six pixels, label)."""
    for part, examples in (("train", train), ("t10k", test)):
        images = idx((len(examples), 2, 3), [p for pixels, _ in examples for p in pixels])
        labels = idx((len(examples),), [label for _, label in examples])
        for name, contents in ((f"{part}-images-idx3-ubyte", images), (f"{part}-labels-idx1-ubyte", labels)):
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(contents))
            else:
                (folder / name).write_bytes(contents)


TRAIN = [([0, 255, 0, 51, 0, 0], 7), ([255] * 6, 0), ([1, 2, 3, 4, 5, 6], 9)]
TEST = [([0, 0, 0, 0, 0, 102], 3), ([10, 20, 30, 40, 50, 60], 1)]


# --- the shipped 5,000 ---


def test_the_shipped_files_are_the_ones_recorded_in_the_readme() -> None:
    for name, digest in SHIPPED_SHA256.items():
        assert hashlib.sha256((SHIPPED / name).read_bytes()).hexdigest() == digest
        assert name in (SHIPPED / "README.md").read_text() and digest in (SHIPPED / "README.md").read_text()


def test_the_shipped_files_hold_500_images_of_each_digit_in_order_first_a_zero() -> None:
    shape, pixels = read_idx(SHIPPED / "mnist-5k-images-idx3-ubyte.gz")
    (count,), labels = read_idx(SHIPPED / "mnist-5k-labels-idx1-ubyte.gz")
    assert shape == (5000, 28, 28) and count == 5000
    assert list(labels) == [digit for digit in range(10) for _ in range(500)]
    # the first image's fifth row: the top of the 0's stroke, columns 15 to 19
    assert list(pixels[4 * 28 : 5 * 28]) == [0] * 15 + [51, 159, 253, 159, 50] + [0] * 8


def test_mnist_gives_5000_images_of_784_pixels_in_0_1_and_500_of_each_digit(everything: Dataset) -> None:
    assert (len(everything), everything.n_features, everything.n_classes, everything.name) == (
        5000,
        784,
        10,
        "mnist",
    )
    assert Counter(everything.y) == {digit: 500 for digit in range(10)}
    assert min(min(x) for x in everything.X) == 0.0 and max(max(x) for x in everything.X) == 1.0
    assert all(isinstance(p, float) for p in everything.X[0])


def test_unscaled_pixels_are_the_0_255_values_as_floats() -> None:
    (raw, _), (scaled, _) = data.mnist(scaled=False, test_size=0), data.mnist(test_size=0)
    assert max(max(x) for x in raw.X) == 255.0
    assert raw.y == scaled.y
    assert all(
        r / 255 == s for x_raw, x_scaled in zip(raw.X[:50], scaled.X[:50]) for r, s in zip(x_raw, x_scaled)
    )


def test_the_default_split_is_4000_train_1000_test_400_and_100_of_each_digit(everything: Dataset) -> None:
    train, test = data.mnist()
    assert (len(train), len(test)) == (4000, 1000)
    assert Counter(train.y) == {digit: 400 for digit in range(10)}
    assert Counter(test.y) == {digit: 100 for digit in range(10)}
    # every image once, in one set or the other, with its label
    together = Counter((tuple(x), label) for x, label in zip(train.X + test.X, train.y + test.y))
    assert together == Counter((tuple(x), label) for x, label in zip(everything.X, everything.y))
    # shuffled: the digits are mixed, not 100 zeros then 100 ones
    assert len(set(test.y[:20])) > 3


def test_the_same_seed_gives_the_same_split_and_another_seed_another() -> None:
    first, again, other = data.mnist(seed=1), data.mnist(seed=1), data.mnist(seed=2)
    assert (first[0].X, first[1].y) == (again[0].X, again[1].y)
    # another seed holds out other images, not the same ones in another order
    assert {tuple(x) for x in first[1].X} != {tuple(x) for x in other[1].X}
    assert Counter(other[1].y) == {digit: 100 for digit in range(10)}


@pytest.mark.parametrize(
    ("test_size", "per_digit"), [(5000, {500}), (1, {0, 1}), (995, {99, 100}), (4999, {499, 500})]
)
def test_any_test_size_is_shared_among_the_digits_as_evenly_as_can_be(
    test_size: int, per_digit: set[int]
) -> None:
    train, test = data.mnist(test_size=test_size)
    assert (len(train), len(test)) == (5000 - test_size, test_size)
    assert {Counter(test.y)[digit] for digit in range(10)} == per_digit


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"test_size": -1}, ValueError, "test_size must be between 0 and 5000, got -1"),
        ({"test_size": 5001}, ValueError, "test_size must be between 0 and 5000, got 5001"),
        ({"test_size": 0.2}, ValueError, "test_size is a number of test images, an int; got 0.2"),
        ({"test_size": True}, ValueError, "test_size is a number of test images, an int; got True"),
        ({"path": ".", "seed": 3}, ValueError, r"the MNIST files in '.' come split already .* seed=3"),
        ({"path": ".", "test_size": 10}, ValueError, r"come split already \(60,000 train, 10,000 test\)"),
    ],
)
def test_bad_arguments_are_refused_with_the_value(
    options: dict[str, object], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        data.mnist(**options)  # type: ignore[arg-type]


# --- the stratified split, for any labels ---


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(st.integers(0, 3), max_size=40), fraction=st.floats(0, 1), seed=st.integers(0, 100))
def test_a_stratified_split_gives_each_class_its_share_within_one(
    labels: list[int], fraction: float, seed: int
) -> None:
    dataset = Dataset([[float(i)] for i in range(len(labels))], labels, n_classes=4)
    test_size = round(fraction * len(labels))
    train, test = data._stratified_split(dataset, test_size, seed)
    assert len(test) == test_size
    assert sorted(x[0] for x in train.X + test.X) == list(range(len(labels)))
    assert all(labels[int(x[0])] == label for x, label in zip(train.X + test.X, train.y + test.y))
    for k in range(4):
        exact = test_size * labels.count(k) / len(labels) if labels else 0.0
        assert exact - 1 < test.y.count(k) < exact + 1
    assert data._stratified_split(dataset, test_size, seed) == (train, test)


# --- MNIST's own files from a folder ---


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_a_folder_of_the_four_standard_files_gives_their_train_and_test_sets(
    tmp_path: Path, gz: bool
) -> None:
    write_mnist(tmp_path, TRAIN, TEST, gz)
    train, test = data.mnist(tmp_path)
    assert (len(train), len(test), train.n_features) == (3, 2, 6)
    assert train.y == [7, 0, 9] and test.y == [3, 1]  # the files' order
    assert train.X[0] == [0.0, 1.0, 0.0, 0.2, 0.0, 0.0]
    assert test.X[0][5] == 0.4
    raw_train, _ = data.mnist(str(tmp_path), scaled=False)
    assert raw_train.X[2] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_the_dotted_spelling_some_mirrors_use_is_found_too(tmp_path: Path) -> None:
    write_mnist(tmp_path, TRAIN, TEST, gz=False)
    for file in list(tmp_path.iterdir()):
        file.rename(tmp_path / file.name.replace("s-idx", "s.idx"))  # train-images.idx3-ubyte
    assert data.mnist(tmp_path)[0].y == [7, 0, 9]


def test_read_idx_gives_the_shape_and_the_bytes_and_knows_gzip_by_its_content(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(idx((2, 3), range(6)))
    # a browser may unpack a download and keep the .gz name, or the other way round
    (tmp_path / "b.gz").write_bytes(idx((2, 3), range(6)))
    (tmp_path / "c").write_bytes(gzip.compress(idx((4,), [9, 8, 7, 6])))
    assert read_idx(tmp_path / "a") == read_idx(str(tmp_path / "b.gz")) == ((2, 3), bytes(range(6)))
    assert read_idx(tmp_path / "c") == ((4,), bytes([9, 8, 7, 6]))


CORRUPT = [
    ("empty", b"", "0 bytes, too short for an IDX file's 4-byte magic number"),
    ("wrong magic", b"\x12\x34\x08\x01" + bytes(8), r"not an IDX file: its magic number is 0x12340801"),
    (
        "floats",
        idx((1,), bytes(4), dtype=0x0D),
        r"holds 32-bit floats \(IDX type 0x0d\); only unsigned bytes",
    ),
    ("unknown type", idx((1,), bytes(1), dtype=0x42), r"holds an unknown data type \(IDX type 0x42\)"),
    (
        "short header",
        idx((2, 3), range(6))[:9],
        "truncated inside its header: 2 dimensions need 12 bytes, the file has 9",
    ),
    (
        "short data",
        idx((2, 3), range(6))[:-2],
        r"truncated: its header promises 2 x 3 = 6 bytes of data, the file holds 4",
    ),
    ("trailing", idx((2, 3), range(6)) + b"junk", r"4 bytes of trailing garbage after the 6 bytes of data"),
    ("broken gzip", gzip.compress(idx((2, 3), range(6)))[:-6], "not a valid gzip file"),
]


@pytest.mark.parametrize(("contents", "message"), [c[1:] for c in CORRUPT], ids=[c[0] for c in CORRUPT])
def test_a_corrupt_idx_file_is_refused_naming_the_file_and_the_fault(
    tmp_path: Path, contents: bytes, message: str
) -> None:
    file = tmp_path / "bad-idx3-ubyte"
    file.write_bytes(contents)
    with pytest.raises(DataFileError, match=f"{re.escape(str(file))}: {message}"):
        read_idx(file)
    assert issubclass(DataFileError, ValueError)


@pytest.mark.parametrize(
    ("file", "contents", "message"),
    [
        (
            "train-images-idx3-ubyte",
            idx((3, 6), range(18)),
            r"train-images-idx3-ubyte: shape 3 x 6; images need 3 dimensions",
        ),
        (
            "train-images-idx3-ubyte",
            idx((3, 0, 6), []),
            r"train-images-idx3-ubyte: shape 3 x 0 x 6; images need",
        ),
        (
            "train-labels-idx1-ubyte",
            idx((3, 1), [7, 0, 9]),
            r"train-labels-idx1-ubyte: shape 3 x 1; labels need 1 dimension",
        ),
        (
            "train-labels-idx1-ubyte",
            idx((2,), [7, 0]),
            r"train-images-idx3-ubyte has 3 images but \S*train-labels-idx1-ubyte has 2",
        ),
        (
            "t10k-labels-idx1-ubyte",
            idx((2,), [3, 10]),
            r"t10k-labels-idx1-ubyte: label 10 at index 1 is not a digit 0..9",
        ),
        (
            "t10k-images-idx3-ubyte",
            idx((2, 2, 2), range(8)),
            r"train-images-idx3-ubyte has images of 6 pixels but \S*t10k-images-idx3-ubyte of 4",
        ),
    ],
)
def test_mnist_files_of_the_wrong_shape_or_labels_are_refused_naming_the_file(
    tmp_path: Path, file: str, contents: bytes, message: str
) -> None:
    write_mnist(tmp_path, TRAIN, TEST, gz=False)
    (tmp_path / file).write_bytes(contents)
    with pytest.raises(DataFileError, match=message):
        data.mnist(tmp_path)


def test_a_missing_file_or_folder_is_named(tmp_path: Path) -> None:
    write_mnist(tmp_path, TRAIN, TEST, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"no t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz .* in "
    ):
        data.mnist(tmp_path)
    with pytest.raises(
        FileNotFoundError, match=r"nowhere is not a folder; mnist\(path=...\) takes the folder"
    ):
        data.mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="absent"):
        read_idx(tmp_path / "absent")


# --- properties: any bytes are read or refused as a DataFileError, never another error ---


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.lists(st.integers(0, 4), max_size=3),
    pixels=st.binary(min_size=64, max_size=64),
    gz=st.booleans(),
)
def test_written_idx_files_read_back_exactly(
    tmp_path: Path, shape: list[int], pixels: bytes, gz: bool
) -> None:
    values = pixels[: math.prod(shape)]
    contents = idx(tuple(shape), values)
    (tmp_path / "x").write_bytes(gzip.compress(contents) if gz else contents)
    assert read_idx(tmp_path / "x") == (tuple(shape), values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(0, 40),
    garbage=st.binary(max_size=8),
    flip=st.tuples(st.integers(0, 40), st.integers(0, 255)),
    gz=st.booleans(),
)
def test_a_damaged_file_is_read_or_refused_with_a_data_file_error_only(
    tmp_path: Path, cut: int, garbage: bytes, flip: tuple[int, int], gz: bool
) -> None:
    contents = bytearray(idx((2, 2, 3), range(12)))
    if flip[0] < len(contents):
        contents[flip[0]] = flip[1]
    damaged = bytes(contents[:cut]) + garbage
    file = tmp_path / "damaged"
    file.write_bytes(gzip.compress(damaged)[: cut + 20] if gz else damaged)
    try:
        shape, values = read_idx(file)
    except DataFileError as error:
        assert str(file) in str(error)
    else:
        assert len(values) == math.prod(shape)
