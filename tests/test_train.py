"""microgrid.train (fit, predict, evaluate, the named losses) and microgrid.plots."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid import data, losses, optim, plots, train
from microgrid.data import Dataset
from microgrid.engine import Value
from microgrid.nn import MLP

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# two points per class, on either side of the line x0 = 0
SEPARABLE = Dataset([[-2.0, 1.0], [-1.0, -1.0], [1.0, 1.0], [2.0, -1.0]], [0, 0, 1, 1], n_classes=2)


def _float_loss(model: MLP, dataset: Dataset) -> float:
    """The mse loss to +1/-1 targets, computed independently of backward (forward only)."""
    scores = [model(x).data for x in dataset.X]
    return sum((s - (2 * y - 1)) ** 2 for s, y in zip(scores, dataset.y)) / len(scores)


# --- fit ---


def test_one_sgd_step_moves_each_parameter_by_minus_lr_times_the_numerical_gradient() -> None:
    model = MLP(2, [2, 1], "tanh", seed=3)
    before = [p.data for p in model.parameters()]
    numerical = []
    for p in model.parameters():  # central differences: an oracle that never calls backward
        p.data += 1e-6
        up = _float_loss(model, SEPARABLE)
        p.data -= 2e-6
        down = _float_loss(model, SEPARABLE)
        p.data += 1e-6
        numerical.append((up - down) / 2e-6)
    train.fit(model, SEPARABLE, loss="mse", optimizer="sgd", lr=0.1, steps=1, progress=False)
    after = [p.data for p in model.parameters()]
    assert after == pytest.approx([b - 0.1 * g for b, g in zip(before, numerical)], abs=1e-7)


def test_history_has_one_entry_per_epoch_and_one_loss_per_step() -> None:
    model = MLP(2, [4, 1], seed=0)
    history = train.fit(
        model, SEPARABLE, loss="hinge", epochs=3, batch_size=3, test=SEPARABLE, progress=False
    )
    # 4 examples in batches of 3: 2 steps per epoch
    assert len(history.step_loss) == 6
    assert len(history.loss) == len(history.accuracy) == len(history.test_accuracy) == 3
    assert history.test_accuracy[-1] == train.evaluate(model, SEPARABLE)


def test_steps_may_end_inside_an_epoch() -> None:
    history = train.fit(MLP(2, [1], seed=0), SEPARABLE, loss="hinge", steps=3, batch_size=3, progress=False)
    assert len(history.step_loss) == 3 and len(history.loss) == 2


def test_the_epoch_loss_is_the_example_weighted_mean_of_its_steps() -> None:
    history = train.fit(MLP(2, [1], seed=0), SEPARABLE, loss="mse", epochs=1, batch_size=3, progress=False)
    first, second = history.step_loss
    assert history.loss == [pytest.approx((3 * first + 1 * second) / 4)]


def test_l2_adds_alpha_times_the_sum_of_squared_parameters() -> None:
    model = MLP(2, [3, 1], seed=1)
    penalty = 0.5 * sum(p.data**2 for p in model.parameters())
    plain = _float_loss(model, SEPARABLE)
    history = train.fit(model, SEPARABLE, loss="mse", steps=1, l2=0.5, progress=False)
    assert history.step_loss[0] == pytest.approx(plain + penalty)


def test_a_loss_function_gets_the_outputs_and_labels_of_each_batch() -> None:
    seen: list[tuple[int, list[int]]] = []

    def squared_score(outputs: list[Any], labels: list[int]) -> Value:
        seen.append((len(outputs), labels))
        return losses.mse(outputs, [float(y) for y in labels])

    train.fit(MLP(2, [1], seed=0), SEPARABLE, loss=squared_score, epochs=1, batch_size=2, progress=False)
    assert [n for n, _ in seen] == [2, 2]
    assert sorted(y for _, labels in seen for y in labels) == [0, 0, 1, 1]


def test_an_optimizer_you_build_is_used_as_is() -> None:
    model = MLP(2, [1], seed=0)
    adam = optim.Adam(model.parameters(), lr=0.05)
    train.fit(model, SEPARABLE, loss="hinge", optimizer=adam, steps=7, progress=False)
    assert adam.steps == 7


def test_cross_entropy_learns_three_blobs() -> None:
    blobs = data.blobs(60, centers=[[-3.0, 0.0], [3.0, 0.0], [0.0, 4.0]], std=0.5, seed=0)
    model = MLP(2, [8, 3], seed=0)
    train.fit(model, blobs, loss="cross_entropy", optimizer="adam", lr=0.05, steps=60, progress=False)
    assert train.evaluate(model, blobs) == 1.0


@pytest.mark.parametrize("loss", ["hinge", "binary_cross_entropy", "mse"])
def test_every_two_class_loss_separates_separable_points(loss: str) -> None:
    model = MLP(2, [4, 1], seed=0)
    history = train.fit(model, SEPARABLE, loss=loss, optimizer="adam", lr=0.05, steps=80, progress=False)
    assert train.evaluate(model, SEPARABLE) == 1.0
    assert history.step_loss[-1] < history.step_loss[0]


def test_mse_on_several_outputs_compares_with_one_hot_targets() -> None:
    outputs = [[Value(1.0), Value(0.0), Value(0.0)], [Value(0.0), Value(0.0), Value(2.0)]]
    # example 1 is exact; example 2 (class 1) is off by 1 at index 1 and by 2 at index 2
    assert train.mse(outputs, [0, 1]).data == pytest.approx((1 + 4) / 6)


def test_hinge_maps_class_1_to_plus_1_and_class_0_to_minus_1() -> None:
    assert train.hinge([Value(2.0), Value(-1.5)], [1, 0]).data == 0.0  # both beyond the margin
    assert train.hinge([Value(2.0), Value(-0.5)], [1, 0]).data == 0.25  # mean of 0 and relu(1 - 0.5)
    assert train.hinge([Value(2.0)], [0]).data == 3.0  # relu(1 + 2)


def test_the_same_seed_trains_the_same_model() -> None:
    runs = []
    for _ in range(2):
        model = MLP(2, [4, 1], seed=0)
        history = train.fit(model, SEPARABLE, loss="hinge", epochs=2, batch_size=1, seed=9, progress=False)
        runs.append((history.step_loss, model.state_dict()))
    assert runs[0] == runs[1]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6), batch_size=st.integers(1, 4))
def test_every_example_is_seen_once_per_epoch(seed: int, batch_size: int) -> None:
    seen: list[int] = []

    def record(outputs: list[Any], labels: list[int]) -> Value:
        seen.extend(labels)
        return losses.mse(outputs, [0.0] * len(outputs))

    train.fit(
        MLP(2, [1], seed=0),
        SEPARABLE,
        loss=record,
        epochs=2,
        batch_size=batch_size,
        seed=seed,
        progress=False,
    )
    assert sorted(seen[:4]) == sorted(seen[4:]) == [0, 0, 1, 1]


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"loss": "l1", "steps": 1}, "unknown loss 'l1'; choose one of hinge, binary_cross_entropy"),
        ({"loss": "hinge", "optimizer": "rmsprop", "steps": 1}, "unknown optimizer 'rmsprop'"),
        ({"loss": "hinge", "lr": -1.0, "steps": 1}, r"lr must be non-negative and finite, got -1.0"),
        ({"loss": "hinge"}, "give exactly one of epochs and steps, got epochs=None, steps=None"),
        ({"loss": "hinge", "epochs": 1, "steps": 1}, "give exactly one of epochs and steps"),
        ({"loss": "hinge", "epochs": 0}, "epochs must be positive, got 0"),
        ({"loss": "hinge", "steps": 1, "batch_size": 0}, "batch_size must be positive, got 0"),
        ({"loss": "hinge", "steps": 10**20}, "steps must be at most sys.maxsize"),
        (
            {"loss": "hinge", "steps": 1, "l2": -0.1},
            r"the L2 weight \(alpha\) must be non-negative and finite, got -0.1",
        ),
        ({"loss": "cross_entropy", "steps": 1}, "cross_entropy needs one output per class"),
    ],
)
def test_bad_settings_are_refused_before_any_parameter_changes(
    settings_: dict[str, Any], message: str
) -> None:
    model = MLP(2, [2, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(ValueError, match=message):
        train.fit(model, SEPARABLE, progress=False, **settings_)
    assert model.state_dict() == before


def test_a_diverging_run_stops_with_overflow_error_and_the_last_good_parameters() -> None:
    # the first update itself overflows: lr * grad is beyond the largest float
    big = Dataset([[100.0, -100.0], [-100.0, 100.0]], [0, 1], n_classes=2)
    model = MLP(2, [1], seed=0)
    before = model.state_dict()
    with pytest.raises(OverflowError, match=r"would make params\[\d\] -?inf .* nothing was changed"):
        train.fit(model, big, loss="mse", lr=1e307, steps=1, progress=False)
    assert model.state_dict() == before


def test_two_class_losses_refuse_more_classes() -> None:
    three = Dataset([[0.0], [1.0], [2.0]], [0, 1, 2], n_classes=3)
    with pytest.raises(
        ValueError, match=r"hinge \(on data\) is for two classes .* got label 2 at y\[2\]: use cross_entropy"
    ):
        train.fit(MLP(1, [1], seed=0), three, loss="hinge", steps=1, progress=False)
    with pytest.raises(ValueError, match="hinge needs a model with one output .* this one has 3"):
        train.fit(MLP(1, [3], seed=0), three, loss="hinge", steps=1, progress=False)


def test_lr_with_an_optimizer_you_built_is_refused() -> None:
    model = MLP(2, [1], seed=0)
    with pytest.raises(ValueError, match="lr is for a named optimizer"):
        train.fit(
            model, SEPARABLE, loss="hinge", optimizer=optim.SGD(model.parameters(), lr=0.1), lr=0.2, steps=1
        )


def test_an_empty_dataset_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot fit on an empty dataset"):
        train.fit(MLP(2, [1]), Dataset([], [], 2), loss="hinge", steps=1)
    with pytest.raises(ValueError, match="cannot evaluate on an empty dataset"):
        train.evaluate(MLP(2, [1]), Dataset([], [], 2))


# --- schedules, predict, evaluate ---


def test_linear_schedule_is_micrograds_decay() -> None:
    lr = train.linear_schedule(1.0, 0.1, 100)
    assert [lr(k) for k in (0, 50, 99)] == pytest.approx([1.0 - 0.9 * k / 100 for k in (0, 50, 99)])
    assert lr(100) == lr(1000) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="steps must be positive, got 0"):
        train.linear_schedule(1.0, 0.1, 0)
    with pytest.raises(ValueError, match="end must be non-negative and finite, got -0.1"):
        train.linear_schedule(1.0, -0.1, 10)


def test_predict_takes_the_sign_of_one_score_and_the_argmax_of_several() -> None:
    def score(x: list[float]) -> Value:
        return Value(x[0])

    def logits(x: list[float]) -> list[Value]:
        return [Value(v) for v in x]

    assert train.predict(score, [[0.5], [0.0], [-2.0]]) == [1, 0, 0]  # type: ignore[arg-type]
    assert train.predict(logits, [[0.1, 3.0, -1.0], [2.0, 2.0, 1.0]]) == [1, 0]  # type: ignore[arg-type]


def test_evaluate_is_the_fraction_predicted_right() -> None:
    def score(x: list[float]) -> Value:
        return Value(x[0])

    dataset = Dataset([[1.0], [-1.0], [2.0], [-3.0]], [1, 0, 0, 0], n_classes=2)
    assert train.evaluate(score, dataset) == 0.75  # type: ignore[arg-type]


def test_predict_records_no_graph() -> None:
    model = MLP(2, [3, 1], seed=0)
    outputs: list[Value] = []
    train.predict(lambda x: outputs.append(model(x)) or outputs[-1], [[1.0, 2.0]])  # type: ignore[arg-type]
    assert outputs[0].children == ()


# --- progress bar ---


def test_progress_goes_to_stderr_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    train.fit(MLP(2, [1], seed=0), SEPARABLE, loss="hinge", steps=3, progress=False)
    assert capsys.readouterr().err == ""
    train.fit(MLP(2, [1], seed=0), SEPARABLE, loss="hinge", steps=3, progress=True)
    assert "3/3" in capsys.readouterr().err


def test_without_tqdm_there_is_no_bar_and_training_works() -> None:
    script = (
        "import sys; sys.modules['tqdm'] = None\n"  # makes `import tqdm` raise ImportError
        "from microgrid import train; from microgrid.nn import MLP; from microgrid.data import Dataset\n"
        "d = Dataset([[0.0], [1.0]], [0, 1], 2)\n"
        "h = train.fit(MLP(1, [1], seed=0), d, loss='hinge', steps=2, progress=True)\n"
        "print(len(h.step_loss))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "2\n", "")


# --- plots ---


def test_loss_curve_writes_a_png(tmp_path: Path) -> None:
    history = train.History(
        loss=[1.0, 0.5], accuracy=[0.5, 1.0], test_accuracy=[0.5, 0.75], step_loss=[1.0, 0.5]
    )
    figure = plots.loss_curve(history, tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes().startswith(PNG_MAGIC)
    assert [axes.get_title() for axes in figure.axes] == ["training loss", "accuracy"]


def test_minibatch_losses_get_a_smoothed_line_that_starts_at_the_first_loss() -> None:
    history = train.History(loss=[2.0], accuracy=[0.5], step_loss=[2.0, 2.0, 2.0, 1.0])
    raw, smoothed = plots.loss_curve(history).axes[0].lines
    assert list(raw.get_ydata()) == [2.0, 2.0, 2.0, 1.0]
    # bias-corrected moving average: a constant stays constant, then it moves towards the new value
    assert list(smoothed.get_ydata())[:3] == pytest.approx([2.0, 2.0, 2.0])
    assert 1.0 < smoothed.get_ydata()[3] < 2.0


def test_full_batch_losses_are_drawn_as_they_are() -> None:
    history = train.History(loss=[2.0, 1.0], accuracy=[0.5, 1.0], step_loss=[2.0, 1.0])
    assert len(plots.loss_curve(history).axes[0].lines) == 1


def test_decision_boundary_colours_the_plane_by_predicted_class(tmp_path: Path) -> None:
    def left_or_right(x: list[float]) -> Value:
        return Value(x[0])

    figure = plots.decision_boundary(left_or_right, SEPARABLE, tmp_path / "b.png", resolution=10)  # type: ignore[arg-type]
    assert (tmp_path / "b.png").read_bytes().startswith(PNG_MAGIC)
    assert figure.axes[0].get_title() == "decision boundary"


def test_decision_boundary_needs_2d_data() -> None:
    with pytest.raises(ValueError, match="needs 2-D data, got 64 features"):
        plots.decision_boundary(MLP(64, [1]), Dataset([[0.0] * 64], [0], 2))


def test_labels_that_accuracy_cannot_read_fail_before_the_first_step() -> None:
    # one score per example cannot say which of 3 classes; the custom loss does not mind
    three = Dataset([[0.0], [1.0], [2.0]], [0, 1, 2], n_classes=3)
    model = MLP(1, [1], seed=0)
    before = model.state_dict()
    with pytest.raises(
        ValueError, match=r"data.y\[2\] is class 2, but a model with 1 output tells only classes 0..1 apart"
    ):
        train.fit(
            model,
            three,
            loss=lambda out, ys: losses.mse(out, [float(y) for y in ys]),
            steps=1,
            progress=False,
        )
    assert model.state_dict() == before


@pytest.mark.parametrize(
    ("setting", "error", "message"),
    [
        ({"l2": "x"}, TypeError, r"the L2 weight \(alpha\) must be a real number, got str: 'x'"),
        (
            {"l2": float("nan")},
            ValueError,
            r"the L2 weight \(alpha\) must be non-negative and finite, got nan",
        ),
        ({"lr": "0.1"}, TypeError, "lr must be a real number, got str: '0.1'"),
        ({"seed": "a"}, TypeError, "seed must be an int, got str: 'a'"),
        (
            {"optimizer": None},
            TypeError,
            r"optimizer must be a name \(sgd, adam\) or an optimizer, got NoneType",
        ),
        ({"optimizer": 3}, TypeError, r"optimizer must be a name \(sgd, adam\) or an optimizer, got int: 3"),
    ],
)
def test_bad_fit_settings_are_refused_before_training(
    setting: dict[str, Any], error: type, message: str
) -> None:
    model = MLP(2, [3, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(error, match=message):
        train.fit(model, data.moons(10), loss="hinge", steps=1, progress=False, **setting)
    assert model.state_dict() == before


def test_a_linear_schedule_needs_a_whole_number_of_steps() -> None:
    with pytest.raises(TypeError, match="steps must be an int, got float: 0.5"):
        train.linear_schedule(1.0, 0.1, 0.5)  # type: ignore[arg-type]


# --- the whole dataset is checked before the first step ---


def _late_trouble(change: Any) -> Dataset:
    """40 good examples, then one changed after the dataset was made (its lists are the user's)."""
    dataset = Dataset([[float(i % 7), float(i % 3)] for i in range(40)], [i % 2 for i in range(40)], 2)
    change(dataset)
    return dataset


@pytest.mark.parametrize(
    ("dataset", "settings_", "error", "message"),
    [
        (
            _late_trouble(lambda d: d.X[39].__setitem__(1, math.nan)),
            {"loss": "hinge"},
            ValueError,
            r"X\[39\]\[1\] must be finite, got nan",
        ),
        (
            _late_trouble(lambda d: d.X[38].__setitem__(0, "7")),
            {"loss": "mse"},
            TypeError,
            r"X\[38\]\[0\] must be a real number, got str: '7'",
        ),
        (
            _late_trouble(lambda d: d.y.__setitem__(39, 2)),
            {"loss": "hinge"},
            ValueError,
            r"labels must be ints in 0..1, got 2 \(y\[39\]\)",
        ),
        (
            Dataset([[0.0, 0.0]] * 39 + [[1.0, 1.0]], [0] * 39 + [2], n_classes=3),
            {"loss": "hinge"},
            ValueError,
            r"hinge \(on data\) is for two classes \(labels 0 and 1\), got label 2 at y\[39\]",
        ),
        (
            Dataset([[0.0, 0.0]] * 39 + [[1.0, 1.0]], [0] * 39 + [2], n_classes=3),
            {"loss": "binary_cross_entropy"},
            ValueError,
            r"binary_cross_entropy \(on data\) is for two classes",
        ),
        (
            _late_trouble(lambda d: d.X[39].append(1.0)),
            {"loss": "hinge"},
            ValueError,
            r"examples must all have the same length: X\[0\] has 2 but X\[39\] has 3",
        ),
    ],
)
def test_a_bad_example_late_in_the_data_is_found_before_the_first_step(
    dataset: Dataset, settings_: dict[str, Any], error: type, message: str
) -> None:
    model = MLP(2, [3, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(error, match=message):
        train.fit(model, dataset, steps=5, batch_size=4, progress=False, **settings_)
    assert model.state_dict() == before


def test_a_bad_test_set_is_found_before_the_first_step_too() -> None:
    model = MLP(2, [3, 1], seed=0)
    before = model.state_dict()
    three_classes = Dataset([[0.0, 0.0], [1.0, 1.0]], [0, 2], n_classes=3)
    for test, error, message in [
        (three_classes, ValueError, r"hinge \(on test\) is for two classes .* got label 2 at y\[1\]"),
        (Dataset([[0.0]], [0], 2), ValueError, "test has 1 features per example, but data has 2"),
        (Dataset([[0.0, 0.0]], [0.5]), ValueError, "data has class labels but test has real-valued targets"),
        (Dataset([], [], 2), ValueError, "the test set is empty"),
        ([[0.0, 0.0]], TypeError, "test must be a microgrid.data.Dataset"),
    ]:
        with pytest.raises(error, match=message):
            train.fit(model, SEPARABLE, loss="hinge", steps=2, test=test, progress=False)  # type: ignore[arg-type]
    assert model.state_dict() == before


def test_data_that_is_not_a_dataset_is_a_type_error() -> None:
    with pytest.raises(
        TypeError, match=r"data must be a microgrid.data.Dataset \(Dataset\(X, y, n_classes\)\), got tuple"
    ):
        train.fit(MLP(2, [1]), ([[0.0, 1.0]], [1]), loss="hinge", steps=1)  # type: ignore[arg-type]


def test_a_model_that_does_not_fit_the_data_fails_before_the_first_step() -> None:
    model = MLP(3, [2, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"expects 3 inputs.*got 2"):
        train.fit(model, SEPARABLE, loss="hinge", steps=1, progress=False)
    assert model.state_dict() == before


# --- regression: real-valued targets ---

# y = x0 - 2 x1 (one output), and (x0 + x1, x0 * x1) (two outputs), on a small grid
GRID = [[a / 2, b / 2] for a in range(-2, 3) for b in range(-2, 3)]
LINE = Dataset(GRID, [x0 - 2 * x1 for x0, x1 in GRID])
PAIRS = Dataset(GRID, [[x0 + x1, x0 * x1] for x0, x1 in GRID])


def test_mse_fits_real_valued_targets_with_one_output() -> None:
    model = MLP(2, [1], seed=0)  # a linear model can fit a line exactly
    history = train.fit(
        model, LINE, loss="mse", optimizer="adam", lr=0.1, steps=300, test=LINE, progress=False
    )
    assert history.loss[-1] < 1e-4 and history.step_loss[-1] < history.step_loss[0]
    assert history.accuracy == history.test_accuracy == []  # no accuracy without classes
    assert history.test_loss[-1] == pytest.approx(train.evaluate(model, LINE))
    assert train.outputs(model, [[1.0, 0.5]]) == [pytest.approx(0.0, abs=0.02)]


def test_mse_fits_several_outputs_against_lists_of_targets() -> None:
    model = MLP(2, [16, 2], "tanh", seed=0)
    history = train.fit(model, PAIRS, loss="mse", optimizer="adam", lr=0.02, steps=400, progress=False)
    assert history.loss[-1] < 0.05 * history.loss[0]
    first, second = train.outputs(model, [[0.5, -0.5]])[0]
    assert (first, second) == (pytest.approx(0.0, abs=0.15), pytest.approx(-0.25, abs=0.15))


def test_the_regression_loss_is_torchs_mse_over_every_output() -> None:
    outputs = [[Value(1.0), Value(2.0)], [Value(0.0), Value(-1.0)]]
    # errors 0.5, 1, 0, 2: squares 0.25, 1, 0, 4, mean over all four
    assert train.mse_to_targets(outputs, [[0.5, 1.0], [0.0, 1.0]]).data == pytest.approx(5.25 / 4)
    assert train.mse_to_targets([Value(3.0), Value(1.0)], [1.0, 1.0]).data == 2.0
    model = MLP(2, [1], seed=0)
    by_hand = sum((model(x).data - y) ** 2 for x, y in zip(LINE.X, LINE.y)) / len(LINE)
    assert train.evaluate(model, LINE) == pytest.approx(by_hand)


@pytest.mark.parametrize(
    ("dataset", "model", "loss", "message"),
    [
        (LINE, MLP(2, [1]), "hinge", "hinge is for class labels, but the data has real-valued targets"),
        (
            LINE,
            MLP(2, [2]),
            "cross_entropy",
            "cross_entropy is for class labels, but the data has real-valued",
        ),
        (LINE, MLP(2, [2]), "mse", "data's targets have 1 number each, but the model has 2 outputs"),
        (PAIRS, MLP(2, [1]), "mse", "data's targets have 2 numbers each, but the model has 1 output"),
    ],
)
def test_regression_refuses_what_cannot_learn_its_targets(
    dataset: Dataset, model: MLP, loss: str, message: str
) -> None:
    before = model.state_dict()
    with pytest.raises(ValueError, match=message):
        train.fit(model, dataset, loss=loss, steps=1, progress=False)
    assert model.state_dict() == before


def test_a_loss_of_your_own_gets_the_real_valued_targets() -> None:
    seen: list[Any] = []

    def absolute_error(outputs: list[Any], targets: list[Any]) -> Value:
        seen.extend(targets)
        return sum((abs(z - t) for z, t in zip(outputs, targets)), Value(0.0)) / len(outputs)

    train.fit(MLP(2, [1], seed=0), LINE, loss=absolute_error, epochs=1, batch_size=5, progress=False)
    assert sorted(seen) == sorted(LINE.y)


# --- the registry of losses ---


def test_every_named_loss_is_in_one_registry_with_what_it_needs() -> None:
    assert list(train.LOSSES) == ["hinge", "binary_cross_entropy", "cross_entropy", "mse"]
    assert train.LOSSES["mse"].for_targets is train.mse_to_targets
    assert all(
        train.LOSSES[name].for_targets is None for name in ("hinge", "binary_cross_entropy", "cross_entropy")
    )
    assert [train.output_count(name, 2) for name in train.LOSSES] == [1, 1, 2, 1]
    assert [train.output_count(name, 10) for name in ("cross_entropy", "mse")] == [10, 10]
    with pytest.raises(ValueError, match="hinge is for two classes, got 3: use cross_entropy or mse"):
        train.output_count("hinge", 3)
