"""``microgrid train``, run as a user runs it: ``python -m microgrid train ...`` in a subprocess."""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_mnist import TEST, TRAIN, write_mnist
from unprivileged import as_unprivileged

import microgrid
from microgrid import data, nn, optim, serialize, train
from microgrid.nn import MLP

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_microgrid(*arguments: str, **run: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microgrid", *arguments], capture_output=True, text=True, timeout=300, **run
    )


def run_train(*options: str, **run: Any) -> subprocess.CompletedProcess[str]:
    return run_microgrid("train", *options, **run)


def test_the_default_run_is_micrograds_demo_and_fits_every_training_point(tmp_path: Path) -> None:
    # what `make demo` runs
    done = run_train("--dataset", "moons", "--out", str(tmp_path), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "model: MLP(2, [16, 16, 1]), relu, uniform init, 337 parameters" in done.stdout
    assert (
        "training: hinge + 0.0001 * L2, sgd lr 1 falling linearly to 0.1, 100 steps, full batch"
        in done.stdout
    )
    assert "train accuracy 100.0%, test accuracy" in done.stdout
    # the saved model really does classify all 100 training moons right
    moons, _ = data.moons(200, seed=0).split(0.5, seed=0)
    assert train.evaluate(serialize.load(tmp_path / "model.json"), moons) == 1.0


def test_digits_with_the_defaults_reach_90_percent_test_accuracy() -> None:
    # the full run (5 epochs of 1,438 images), about 15 s
    done = run_train("--dataset", "digits", "--hidden", "16,16", "--no-progress")
    assert done.returncode == 0, done.stderr
    found = re.search(r"test accuracy ([0-9.]+)%", done.stdout)
    assert found is not None, done.stdout
    assert float(found.group(1)) >= 90.0


def test_mnist_trains_the_784_16_16_10_network_on_a_tape_and_reports_its_accuracy() -> None:
    # 20 of the default 400 steps: the full run's 88% and more is measured by hand (README)
    done = run_train("--dataset", "mnist", "--hidden", "16,16", "--steps", "20", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:4] == [
        "mnist: 4000 training and 1000 test examples, 784 features, 10 classes",
        "model: MLP(784, [16, 16, 10]), relu, he init, 13002 parameters",
        "training: cross_entropy, adam lr 0.01 falling linearly to 0.001, 20 steps, batches of 100",
        "engine: a compiled tape, numpy backend",
    ]
    found = re.search(
        r"train accuracy ([0-9.]+)%, test accuracy ([0-9.]+)% \(final loss [0-9.]+, [0-9.]+ s\)", done.stdout
    )
    assert found is not None, done.stdout
    assert float(found.group(2)) > 50.0  # chance is 10%; 20 steps reach about 68%


def test_mnist_from_a_data_dir_trains_on_mnists_own_split(tmp_path: Path) -> None:
    write_mnist(tmp_path, TRAIN, TEST, gz=True)  # 3 training and 2 test images of 2x3 pixels
    done = run_train("--dataset", "mnist", "--data-dir", str(tmp_path), "--steps", "2", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "mnist: 3 training and 2 test examples, 6 features, 10 classes" in done.stdout
    assert "model: MLP(6, [16, 16, 10]), relu, he init, 554 parameters" in done.stdout
    assert "test accuracy" in done.stdout


def test_a_damaged_mnist_file_in_the_data_dir_exits_2_naming_it(tmp_path: Path) -> None:
    write_mnist(tmp_path, TRAIN, TEST, gz=False)
    images = tmp_path / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-1])  # one pixel short
    done = run_train("--dataset", "mnist", "--data-dir", str(tmp_path), "--steps", "1")
    assert done.returncode == 2 and done.stdout == ""
    assert f"microgrid train: error: --data-dir {tmp_path}: {images}: truncated" in done.stderr


def test_a_short_run_writes_the_model_history_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "new" / "dir"
    done = run_train("--steps", "3", "--samples", "20", "--seed", "4", "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "moons: 20 training and 20 test examples, 2 features, 2 classes" in done.stdout
    assert "test accuracy" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "decision_boundary.png",
        "history.json",
        "loss.png",
        "model.json",
    ]
    for picture in ("loss.png", "decision_boundary.png"):
        assert (out / picture).read_bytes().startswith(PNG_MAGIC)
    history = json.loads((out / "history.json").read_text())
    assert len(history["step_loss"]) == 3 and len(history["test_accuracy"]) == 3

    # the file holds exactly the model the library trains with the same settings (compiled, by default)
    training_set, test_set = data.moons(40, seed=4).split(0.5, seed=4)
    model = MLP(2, [16, 16, 1], seed=4)
    lr = train.linear_schedule(1.0, 0.1, 3)
    train.fit(
        model, training_set, loss="hinge", lr=lr, steps=3, l2=1e-4, seed=4, progress=False, compile=True
    )
    loaded = serialize.load(out / "model.json")
    assert loaded.state_dict() == model.state_dict()
    assert train.predict(loaded, test_set.X) == train.predict(model, test_set.X)


def test_options_override_the_dataset_defaults(tmp_path: Path) -> None:
    done = run_train(
        *("--dataset", "spiral", "--samples", "30", "--hidden", "5", "--activation", "tanh"),
        *("--loss", "mse", "--optimizer", "sgd", "--lr", "0.2", "--schedule", "constant", "--l2", "0.01"),
        *("--epochs", "2", "--batch-size", "10", "--init", "xavier", "--no-progress", "--out", str(tmp_path)),
    )
    assert done.returncode == 0, done.stderr
    assert "model: MLP(2, [5, 3]), tanh, xavier init, 33 parameters" in done.stdout
    assert "training: mse + 0.01 * L2, sgd lr 0.2, 6 steps, batches of 10" in done.stdout
    assert serialize.load(tmp_path / "model.json").config()["nouts"] == [5, 3]


def test_an_empty_hidden_list_trains_a_linear_model() -> None:
    done = run_train("--hidden", "", "--steps", "2", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "model: MLP(2, [1]), relu, uniform init, 3 parameters" in done.stdout


def test_digits_train_a_ten_way_classifier_without_a_boundary_plot(tmp_path: Path) -> None:
    done = run_train(
        "--dataset", "digits", "--steps", "2", "--batch-size", "8", "--out", str(tmp_path), "--no-progress"
    )
    assert done.returncode == 0, done.stderr
    assert "digits: 1438 training and 359 test examples, 64 features, 10 classes" in done.stdout
    assert "model: MLP(64, [16, 16, 10]), relu, he init" in done.stdout
    assert not (tmp_path / "decision_boundary.png").exists()
    assert (tmp_path / "loss.png").read_bytes().startswith(PNG_MAGIC)


def test_the_progress_bar_is_on_stderr_unless_turned_off() -> None:
    shown = run_train("--steps", "2", "--samples", "10")
    hidden = run_train("--steps", "2", "--samples", "10", "--no-progress")
    assert shown.returncode == hidden.returncode == 0
    assert "2/2" in shown.stderr and hidden.stderr == ""
    assert "test accuracy" in shown.stdout


def test_an_out_that_is_a_file_exits_2_before_training(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("not a directory")
    done = run_train("--out", str(tmp_path / "taken"), "--steps", "1")
    assert done.returncode == 2 and done.stdout == ""
    assert f"--out {tmp_path / 'taken'}: cannot make the directory" in done.stderr
    assert (tmp_path / "taken").read_text() == "not a directory"


def test_a_diverging_run_exits_1_and_suggests_a_smaller_lr() -> None:
    done = run_train("--lr", "1e300", "--schedule", "constant", "--steps", "5", "--no-progress")
    assert done.returncode == 1
    assert done.stderr == "microgrid train: error: training diverged; try a smaller --lr than 1e+300\n"


def test_help_lists_every_option_and_the_defaults() -> None:
    done = run_train("--help")
    assert done.returncode == 0
    for option in ["--dataset", "--samples", "--hidden", "--activation", "--init", "--loss", "--optimizer"]:
        assert option in done.stdout
    for option in ["--lr", "--schedule", "--l2", "--epochs", "--steps", "--batch-size", "--seed", "--out"]:
        assert option in done.stdout
    assert "--no-progress" in done.stdout
    assert "moons: --hidden 16,16 --init uniform --loss hinge --l2 0.0001" in done.stdout
    assert "--data-dir DIR" in done.stdout


def test_help_lists_mnist_with_its_defaults() -> None:
    done = run_train("--help")
    assert "--dataset {moons,circles,spiral,blobs,digits,mnist}" in done.stdout
    assert (
        "  mnist: --hidden 16,16 --init he --loss cross_entropy --l2 0 --optimizer adam --lr 0.01 "
        "--schedule linear --epochs 10 --batch-size 100\n" in done.stdout
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--dataset", "cifar10"],
            "argument --dataset: invalid choice: 'cifar10' (choose from moons, circles",
        ),
        (
            ["--hidden", "16,x"],
            "argument --hidden: expected positive layer sizes separated by commas, like \"16,16\", got '16,x'",
        ),
        (["--hidden", "16,-3"], "argument --hidden: expected positive layer sizes"),
        (["--lr", "-0.1"], "argument --lr: must be positive and finite, got -0.1"),
        (["--lr", "fast"], "argument --lr: expected a number, got 'fast'"),
        (["--lr", "nan"], "argument --lr: must be positive and finite, got nan"),
        (["--lr", "1e309"], "argument --lr: must be positive and finite, got inf"),
        (["--l2", "-1"], "argument --l2: must be non-negative and finite, got -1"),
        (["--epochs", "0"], "argument --epochs: must be positive, got 0"),
        (["--samples", "10**12"], "argument --samples: expected a positive integer, got '10**12'"),
        (["--samples", "1" + "0" * 20], "argument --samples: must be at most sys.maxsize"),
        (["--hidden", "16,0"], "argument --hidden: expected positive layer sizes"),
        (["--batch-size", "two"], "argument --batch-size: expected a positive integer, got 'two'"),
        (["--epochs", "2", "--steps", "3"], "argument --steps: not allowed with argument --epochs"),
        (["--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
        (
            ["--dataset", "spiral", "--loss", "hinge"],
            "--loss hinge is for two classes, got 3: use cross_entropy or mse (spiral has 3 classes)",
        ),
        (["--datset", "moons"], "unrecognized arguments: --datset moons (did you mean --dataset?)"),
        (["--hiden=4"], "unrecognized arguments: --hiden=4 (did you mean --hidden?)"),
        (["--dataset", "moosn"], "invalid choice: 'moosn' (did you mean moons?)"),
        (["--optimizer", "adma"], "invalid choice: 'adma' (did you mean adam?) (choose from sgd, adam)"),
        (["--loss", "crossentropy"], "invalid choice: 'crossentropy' (did you mean cross_entropy?)"),
        (
            ["--activation", "swish"],
            "invalid choice: 'swish' (choose from relu, tanh, sigmoid, leaky_relu, linear)",
        ),
        (["--dataset", "digits", "--samples", "10"], "--samples is for the generated datasets"),
        (
            ["--dataset", "mnist", "--samples", "10"],
            "--samples is for the generated datasets; mnist has 5,000 shipped images",
        ),
        (["--data-dir", "mnist"], "--data-dir is for --dataset mnist (MNIST's own files), not moons"),
        (
            ["--dataset", "mnist", "--data-dir", "/no/such/folder"],
            "--data-dir /no/such/folder: /no/such/folder is not a folder",
        ),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(options: list[str], message: str) -> None:
    done = run_train(*options, "--steps", "1") if "--epochs" not in options else run_train(*options)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: microgrid train")
    assert message in done.stderr
    assert done.stdout == ""


# --- the whole command line ---


def test_version_prints_the_package_version() -> None:
    done = run_microgrid("--version")
    assert (done.returncode, done.stdout) == (0, f"microgrid {microgrid.__version__}\n")


def test_a_mistyped_command_is_refused_with_the_nearest_one() -> None:
    done = run_microgrid("trian", "--steps", "1")
    assert done.returncode == 2 and done.stdout == ""
    assert (
        "microgrid: error: unknown command 'trian' (did you mean train?); choose from train, draw"
        in done.stderr
    )


def test_the_choices_and_their_help_come_from_the_registries() -> None:
    help_text = " ".join(run_train("--help").stdout.split())
    for registry in (nn.ACTIVATIONS, nn.INITS, train.LOSSES, optim.OPTIMIZERS):
        assert "{" + ",".join(registry) + "}" in help_text
    assert "xavier (Glorot uniform, for tanh and sigmoid)" in help_text
    assert "mse (squared error: to +-1 or one-" in help_text
    assert "adam (Adam with decoupled weight decay: the update of torch.optim.AdamW)" in help_text


def test_ctrl_c_during_training_exits_130_without_a_traceback(tmp_path: Path) -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "microgrid", "train", "--dataset", "digits", "--steps", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stdout is not None
    while "training:" not in run.stdout.readline():  # the run has started
        assert run.poll() is None
    time.sleep(0.5)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130
    assert err.splitlines()[-1] == "microgrid train: interrupted" and "Traceback" not in err


# --- sizes that cannot fit are refused before anything is allocated ---


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--samples", "1000000000000"], "(the data 909.5 TB), more than the "),
        (["--hidden", "100000,100000"], "the model 1.5 TB, one step's graph 21.8 TB), more than the "),
        (
            ["--dataset", "digits", "--hidden", "30000,30000", "--batch-size", "64"],
            "(the data 11.5 MB, the model 134.5 GB, one step's graph 1.3 TB), more than the ",
        ),
        (  # MNIST's pixels are shared floats: 40 bytes each, with their rows on the tape
            ["--dataset", "mnist", "--hidden", "100000,100000"],
            "(the data 151.0 MB, the model 1.5 TB, one step's graph 22.0 TB), more than the ",
        ),
    ],
)
def test_a_run_that_cannot_fit_in_memory_exits_2_at_once(options: list[str], words: str) -> None:
    started = time.perf_counter()
    done = run_train(*options, "--steps", "1", "--no-progress")
    assert done.returncode == 2 and done.stdout == ""
    assert "microgrid train: error: this run would need about" in done.stderr
    assert words in done.stderr
    assert time.perf_counter() - started < 30  # refused, not allocated


def test_the_memory_limit_is_the_processs_own(tmp_path: Path) -> None:
    def three_gigabytes_of_address_space() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    done = run_train("--samples", "5000000", "--steps", "1", preexec_fn=three_gigabytes_of_address_space)
    assert done.returncode == 2
    assert "(the data 4.7 GB), more than the 3.0 GB ulimit -v allows: use fewer --samples" in done.stderr


# --- --out: checked before training, written all or nothing ---


@pytest.mark.parametrize("taken", ["model.json", "history.json", "loss.png"])
def test_an_output_that_is_a_directory_exits_2_before_training(tmp_path: Path, taken: str) -> None:
    (tmp_path / taken).mkdir()
    done = run_train("--out", str(tmp_path), "--steps", "1", "--no-progress")
    assert done.returncode == 2 and done.stdout == ""
    assert (
        f"error: --out {tmp_path}: {tmp_path / taken} is a directory, where training writes a file"
        in done.stderr
    )
    assert [p.name for p in tmp_path.iterdir()] == [taken]


def test_a_read_only_out_exits_2_before_training(tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    out.chmod(0o555)
    done = run_train("--out", str(out), "--steps", "1", "--no-progress", **as_unprivileged())
    assert done.returncode == 2 and done.stdout == ""
    assert f"error: --out {out}: cannot write there (Permission denied)" in done.stderr
    assert "Traceback" not in done.stderr and list(out.iterdir()) == []


def test_a_read_only_output_file_exits_2_before_training(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text("{}")
    (tmp_path / "model.json").chmod(0o444)
    done = run_train("--out", str(tmp_path), "--steps", "1", "--no-progress", **as_unprivileged())
    assert done.returncode == 2
    assert f"error: --out {tmp_path}: {tmp_path / 'model.json'} is read-only" in done.stderr


def test_a_write_that_fails_midway_leaves_the_previous_outputs_whole(tmp_path: Path) -> None:
    options = ["--steps", "2", "--samples", "20", "--out", str(tmp_path), "--no-progress"]
    assert run_train(*options).returncode == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def files_of_at_most_30_kilobytes() -> None:
        # model.json (17 KB) and history.json fit; loss.png (47 KB) does not: EFBIG, as a full disk fails
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))

    done = run_train(*options, "--seed", "1", preexec_fn=files_of_at_most_30_kilobytes)
    assert done.returncode == 1, done.stderr
    assert (
        f"microgrid train: error: cannot write to --out {tmp_path}: [Errno 27] File too large" in done.stderr
    )
    assert done.stderr.endswith("nothing was written\n")
    assert {
        p.name: p.read_bytes() for p in tmp_path.iterdir()
    } == before  # no new model.json beside old plots
