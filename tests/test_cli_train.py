"""``microgrid train``, run as a user runs it: ``python -m microgrid train ...`` in a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from microgrid import data, serialize, train
from microgrid.nn import MLP

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_train(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microgrid", "train", *options],
        capture_output=True,
        text=True,
        timeout=300,
    )


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

    # the file holds exactly the model the library trains with the same settings
    training_set, test_set = data.moons(40, seed=4).split(0.5, seed=4)
    model = MLP(2, [16, 16, 1], seed=4)
    lr = train.linear_schedule(1.0, 0.1, 3)
    train.fit(model, training_set, loss="hinge", lr=lr, steps=3, l2=1e-4, seed=4, progress=False)
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


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist'"),
        (
            ["--hidden", "16,x"],
            "argument --hidden: expected positive layer sizes separated by commas, like \"16,16\", got '16,x'",
        ),
        (["--hidden", "16,-3"], "argument --hidden: expected positive layer sizes"),
        (["--lr", "-0.1"], "argument --lr: must be positive, got -0.1"),
        (["--lr", "fast"], "argument --lr: expected a number, got 'fast'"),
        (["--lr", "nan"], "argument --lr: expected a finite number, got 'nan'"),
        (["--l2", "-1"], "argument --l2: must be non-negative, got -1"),
        (["--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
        (["--batch-size", "two"], "argument --batch-size: expected a positive integer, got 'two'"),
        (["--epochs", "2", "--steps", "3"], "argument --steps: not allowed with argument --epochs"),
        (["--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
        (["--dataset", "spiral", "--loss", "hinge"], "--loss hinge is for two classes; spiral has 3"),
        (["--dataset", "digits", "--samples", "10"], "--samples is for the generated datasets"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(options: list[str], message: str) -> None:
    done = run_train(*options, "--steps", "1") if "--epochs" not in options else run_train(*options)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: microgrid train")
    assert message in done.stderr
    assert done.stdout == ""
