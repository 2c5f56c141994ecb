"""microgrid.serialize: JSON save/load that round-trips exactly, writes atomically, refuses bad files."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microgrid import serialize
from microgrid.nn import MLP, Layer, Neuron
from microgrid.serialize import ModelFileError, load, load_into, save

finite_floats = st.floats(allow_nan=False, allow_infinity=False)


def _document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _rewrite(path: Path, change: Any) -> None:
    document = _document(path)
    change(document)
    path.write_text(json.dumps(document))


# --- what is written, and read back ---


def test_save_writes_class_config_and_named_parameters(tmp_path: Path) -> None:
    model = MLP(2, [3, 1], seed=0)
    save(model, tmp_path / "m.json")
    document = _document(tmp_path / "m.json")
    assert document["format"] == "microgrid-model" and document["version"] == 1
    assert document["class"] == "MLP"
    assert document["config"] == model.config()
    assert document["parameters"] == model.state_dict()
    assert list(document["parameters"])[:3] == [
        "layers.0.neurons.0.w.0",
        "layers.0.neurons.0.w.1",
        "layers.0.neurons.0.b",
    ]


def test_load_rebuilds_a_model_that_computes_the_same(tmp_path: Path) -> None:
    model = MLP(3, [4, 4, 2], "tanh", seed=7)
    save(model, tmp_path / "m.json")
    loaded = load(tmp_path / "m.json")
    assert isinstance(loaded, MLP) and loaded.config() == model.config()
    x = [0.5, -1.0, 2.0]
    assert [v.data for v in loaded(x)] == [v.data for v in model(x)]


@pytest.mark.parametrize("model", [Neuron(3, "sigmoid", seed=1), Layer(2, 3, "tanh", seed=2)])
def test_neurons_and_layers_round_trip_too(tmp_path: Path, model: Any) -> None:
    save(model, tmp_path / "m.json")
    loaded = load(tmp_path / "m.json")
    assert type(loaded) is type(model) and loaded.state_dict() == model.state_dict()


def test_load_into_sets_the_parameters_of_an_existing_model(tmp_path: Path) -> None:
    trained = MLP(2, [3, 1], seed=0)
    save(trained, tmp_path / "m.json")
    fresh = MLP(2, [3, 1], seed=99, init="he")  # another seed and init: same architecture
    load_into(fresh, tmp_path / "m.json")
    assert fresh.state_dict() == trained.state_dict()


def test_the_saved_file_is_readable_by_everyone_the_umask_allows(tmp_path: Path) -> None:
    save(Neuron(1, seed=0), tmp_path / "m.json")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o666 & ~umask


# --- atomic writes ---


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    save(MLP(2, [3, 1], seed=0), path)
    good = path.read_bytes()
    diverged = MLP(2, [3, 1], seed=1)
    # an optimizer step can overflow a parameter; json refuses inf mid-way through the file
    diverged.layers[1].neurons[0].b.data = math.inf
    with pytest.raises(ValueError, match=r"parameter 'layers.1.neurons.0.b' is not finite"):
        save(diverged, path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_save_refuses_a_class_load_could_not_rebuild(tmp_path: Path) -> None:
    class Custom(MLP):
        pass

    with pytest.raises(ValueError, match="cannot save a Custom: load can rebuild only"):
        save(Custom(1, [1]), tmp_path / "m.json")
    assert list(tmp_path.iterdir()) == []


# --- bad files: a clear error, and the model untouched ---


def _saved(tmp_path: Path) -> Path:
    path = tmp_path / "m.json"
    save(MLP(2, [3, 1], seed=0), path)
    return path


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda p: p.write_text(p.read_text()[:200]), "not valid JSON"),
        (lambda p: p.write_bytes(b"\xff\xfe garbage"), "not valid JSON"),
        (lambda p: p.write_text("[1, 2]"), "not a microgrid model file"),
        (lambda p: _rewrite(p, lambda d: d.update(format="other")), "not a microgrid model file"),
        (lambda p: _rewrite(p, lambda d: d.update(version=2)), "format version 2; this microgrid reads 1"),
        (lambda p: _rewrite(p, lambda d: d.pop("config")), 'it has no "config"'),
        (lambda p: _rewrite(p, lambda d: d.update({"class": "os.system"})), "unknown class 'os.system'"),
        (lambda p: _rewrite(p, lambda d: d.update(config=[2])), '"config" must be an object'),
        (lambda p: _rewrite(p, lambda d: d.update(parameters=[])), '"parameters" must be an object'),
        (
            lambda p: _rewrite(p, lambda d: d["parameters"].update({"layers.0.neurons.0.b": "0.5"})),
            r"state\['layers.0.neurons.0.b'\] must be a real number, got str: '0.5'",
        ),
        (
            lambda p: _rewrite(p, lambda d: d["parameters"].update({"layers.0.neurons.0.b": True})),
            "must be a real number, got bool: True",
        ),
        (
            lambda p: p.write_text(
                p.read_text().replace('"layers.0.neurons.0.b": 0.0', '"layers.0.neurons.0.b": NaN')
            ),
            "holds NaN",
        ),
        (lambda p: _rewrite(p, lambda d: d["parameters"].pop("layers.1.neurons.0.b")), "missing"),
        (
            lambda p: p.write_text(
                p.read_text().replace('"layers.0.neurons.0.b": 0.0', '"layers.0.neurons.0.b": 1' + "0" * 400)
            ),
            r"state\['layers.0.neurons.0.b'\] must be finite, got inf",
        ),
        (lambda p: _rewrite(p, lambda d: d["parameters"].update(extra=1.0)), r"unexpected \['extra'\]"),
        (
            lambda p: _rewrite(p, lambda d: d["config"].update(nouts=[3, 2])),
            "describes 17 parameters but it holds only 13",
        ),
        (lambda p: _rewrite(p, lambda d: d["config"].update(nouts=[0])), "its config does not build a MLP"),
        (lambda p: _rewrite(p, lambda d: d["config"].update(colour="red")), "its config does not build"),
    ],
)
def test_a_bad_file_is_refused_with_what_is_wrong(tmp_path: Path, corrupt: Any, message: str) -> None:
    path = _saved(tmp_path)
    corrupt(path)
    with pytest.raises(ModelFileError, match=message):
        load(path)
    model = MLP(2, [3, 1], seed=5)
    before = model.state_dict()
    with pytest.raises(ModelFileError):
        load_into(model, path)
    assert model.state_dict() == before


def test_the_error_names_the_file(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    path.write_text("{")
    with pytest.raises(ModelFileError, match=f"cannot load '{path}'"):
        load(path)


def test_load_into_refuses_another_architecture_and_leaves_the_model_alone(tmp_path: Path) -> None:
    path = _saved(tmp_path)  # MLP(2, [3, 1]) with relu
    for model, message in [
        (MLP(2, [3, 2], seed=1), r"architecture .*'nouts': \[3, 1\].* differs from the model's .*\[3, 2\]"),
        (MLP(2, [3, 1], "tanh", seed=1), "architecture .* differs"),
        (Layer(2, 3, seed=1), "it holds a MLP, not a Layer"),
    ]:
        before = model.state_dict()
        with pytest.raises(ModelFileError, match=message):
            load_into(model, path)
        assert model.state_dict() == before


def test_a_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.json")


def test_model_classes_are_the_nn_classes() -> None:
    assert serialize.MODEL_CLASSES == {"MLP": MLP, "Layer": Layer, "Neuron": Neuron}


# --- properties ---


@st.composite
def models_with_parameters(draw: st.DrawFn) -> MLP:
    nin = draw(st.integers(1, 3))
    nouts = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    activation = draw(st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu", "linear"]))
    model = MLP(nin, nouts, activation, seed=0)
    for p in model.parameters():
        p.data = draw(finite_floats)
    return model


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=models_with_parameters())
def test_save_then_load_gives_back_every_float_bit_for_bit(tmp_path: Path, model: MLP) -> None:
    path = tmp_path / "m.json"
    save(model, path)
    loaded = load(path)
    assert loaded.config() == model.config()
    pairs = zip(loaded.state_dict().values(), model.state_dict().values())
    # bit for bit: repr equality also tells 0.0 from -0.0
    assert all(repr(a) == repr(b) for a, b in pairs)
    target = MLP(model.nin, model.nouts, model.activation, seed=1)
    load_into(target, path)
    assert [repr(v) for v in target.state_dict().values()] == [repr(v) for v in model.state_dict().values()]


def test_a_file_cannot_ask_for_more_parameters_than_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    save(MLP(2, [3, 1], seed=0), path)
    document = json.loads(path.read_text())
    document["config"]["nouts"] = [10**9, 1]  # would build four billion Values before failing
    path.write_text(json.dumps(document))
    with pytest.raises(ModelFileError, match="describes 4000000001 parameters but it holds only 13"):
        load(path)
