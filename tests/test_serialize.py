"""microgrid.serialize: JSON save/load that round-trips exactly, writes atomically, refuses bad files."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unprivileged import NOBODY, as_unprivileged, python_command

from microgrid import serialize
from microgrid.nn import MLP, Layer, Module, Neuron
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
    # a write that fails half-way, as on a full disk: files may not grow past 1 KB
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    ignored = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so the write fails with EFBIG
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, limits[1]))
        with pytest.raises(OSError, match="File too large"):
            save(MLP(2, [16, 16, 1], seed=1), path)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, ignored)
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


# --- saving behaves as open(path, "w") would, atomically ---


def test_a_resave_keeps_the_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    save(Neuron(1, seed=0), path)
    os.chmod(path, 0o600)  # a private model
    save(Neuron(1, seed=1), path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load(path).state_dict() == Neuron(1, seed=1).state_dict()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file to another user")
def test_a_resave_keeps_the_files_owner(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    save(Neuron(1, seed=0), path)
    os.chown(path, NOBODY, NOBODY)
    save(Neuron(1, seed=1), path)
    assert (path.stat().st_uid, path.stat().st_gid) == (NOBODY, NOBODY)


def test_a_read_only_file_is_refused_as_open_would_refuse_it(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    save(Neuron(1, seed=0), path)
    before = path.read_bytes()
    os.chmod(path, 0o444)
    code = (
        "from microgrid import Neuron, save\n"
        f"try:\n    open({str(path)!r}, 'w')\nexcept PermissionError as e:\n    print('open:', e)\n"
        f"try:\n    save(Neuron(1, seed=1), {str(path)!r})\nexcept PermissionError as e:\n    print('save:', e)\n"
    )
    done = subprocess.run(
        python_command(code), capture_output=True, text=True, timeout=60, **as_unprivileged()
    )
    assert done.stdout.splitlines() == [
        f"open: [Errno 13] Permission denied: '{path}'",
        f"save: [Errno 13] Permission denied: '{path}'",
    ], done.stderr
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_saving_through_a_symlink_writes_the_file_it_points_to(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    real = tmp_path / "models" / "m.json"
    save(Neuron(1, seed=0), real)
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    save(Neuron(1, seed=1), link)
    assert link.is_symlink() and link.resolve() == real
    assert load(real).state_dict() == Neuron(1, seed=1).state_dict()
    dangling = tmp_path / "next.json"
    dangling.symlink_to(tmp_path / "models" / "new.json")  # like open(p, "w"): makes the file
    save(Neuron(1, seed=2), dangling)
    assert dangling.is_symlink() and load(tmp_path / "models" / "new.json").config()["seed"] == 2


@pytest.mark.parametrize("length", [250, 255])
def test_a_file_name_of_any_allowed_length_saves(tmp_path: Path, length: int) -> None:
    path = tmp_path / ("m" * (length - 5) + ".json")
    save(Neuron(1, seed=0), path)
    save(Neuron(1, seed=1), path)  # and again, over it
    assert load(path).config()["seed"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_errors_name_the_path_given_not_the_temporary_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No such file or directory: 'nodir/m.json'$"):
        save(Neuron(1), "nodir/m.json")
    (tmp_path / "m.json").mkdir()
    with pytest.raises(IsADirectoryError, match=f"Is a directory: '{tmp_path / 'm.json'}'$"):
        save(Neuron(1), tmp_path / "m.json")
    os.mkfifo(tmp_path / "pipe.json")
    with pytest.raises(OSError, match="not a regular file; save writes only files: .*pipe.json'$"):
        save(Neuron(1), tmp_path / "pipe.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "pipe.json"]


# --- temporaries left by a killed save ---

SAVE_FOREVER = """
import sys
from microgrid import MLP, save
models = [MLP(2, [300, 300, 1], seed=seed) for seed in (1, 2)]
for k in range(10**6):
    save(models[k % 2], sys.argv[1])
"""


def _temporaries(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(".m.json.") and p.name.endswith(".tmp")]


def _start_saving(path: Path) -> subprocess.Popen[bytes]:
    """A process saving to path over and over, returned once it is in the middle of writing one."""
    writer = subprocess.Popen([sys.executable, "-c", SAVE_FOREVER, str(path)])
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size > 0 for p in _temporaries(path.parent) if p.exists()):
        assert writer.poll() is None and time.monotonic() < deadline
        time.sleep(0.001)
    return writer


def test_a_save_killed_midway_leaves_a_whole_file_and_the_next_save_removes_its_temporary(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.json"
    models = [MLP(2, [300, 300, 1], seed=seed) for seed in (0, 1, 2)]
    save(models[0], path)
    wholes = [model.state_dict() for model in models]
    for delay in (0.0, random.uniform(0.0, 0.05), random.uniform(0.0, 0.05)):
        writer = _start_saving(path)  # saving models 1 and 2 in turn, now mid-write
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert load(path).state_dict() in wholes  # the old file or a whole new one, never a part
    assert _temporaries(tmp_path)  # what a SIGKILL mid-write leaves behind
    save(Neuron(1), path)
    assert _temporaries(tmp_path) == []


def test_a_temporary_that_a_live_save_is_writing_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    writer = _start_saving(path)
    writer.send_signal(signal.SIGSTOP)  # paused mid-write: alive, holding its temporary
    try:
        (being_written,) = _temporaries(tmp_path)
        save(Neuron(1), path)  # another save meanwhile
        assert being_written.exists()
    finally:
        writer.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 60
    while being_written.exists():  # the paused save goes on, and renames it into place
        assert time.monotonic() < deadline
        time.sleep(0.001)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert load(path).config()["nouts"] == [300, 300, 1]  # the writer's model, not the Neuron


def test_only_stale_temporaries_of_this_file_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    stale = tmp_path / ".m.json.0123456789ab.tmp"
    stale.write_text("{half a model")
    just_made = tmp_path / ".m.json.ba9876543210.tmp"  # empty: its writer may be about to lock it
    just_made.touch()
    others = [
        ".other.json.0123456789ab.tmp",
        ".m.json.notours.tmp",
        "m.json.0123456789ab.tmp",
        ".m.json.0123456789AB.tmp",
    ]
    for name in others:
        (tmp_path / name).write_text("{")
    save(Neuron(1), path)
    assert not stale.exists() and just_made.exists()
    assert all((tmp_path / name).exists() for name in others)
    an_hour_ago = time.time() - 3600
    os.utime(just_made, (an_hour_ago, an_hour_ago))
    save(Neuron(1), path)
    assert not just_made.exists()


# --- malformed files: every one a ModelFileError ---


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "not a model file: its JSON is nested too deeply"),
        (
            '{"a":' * 5_000 + "1" + "}" * 5_000,
            "not a model file: its JSON is nested too deeply|not a microgrid model file",
        ),
        (
            '{"format": "microgrid-model", "version": 1, "parameters": {}, "class": 1' + "0" * 5000 + "}",
            "not a model file: Exceeds the limit",
        ),
    ],
)
def test_text_that_is_not_a_model_is_a_model_file_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(ModelFileError, match=message):
        load(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update({"class": ["MLP"]}), r"unknown class \['MLP'\]"),
        (lambda d: d.update({"class": {}}), r"unknown class \{\}"),
        (lambda d: d.update(version=True), "format version True; this microgrid reads 1"),
        (lambda d: d.update(version=1.0), "format version 1.0; this microgrid reads 1"),
        (lambda d: d["config"].update(activation=["relu"]), r"activation must be a name \(a str\), got list"),
        (lambda d: d["config"].update(nouts=[[3], 1]), r"nested value under 'nouts'"),
        (lambda d: d["config"].update(init={}), r"nested value under 'init'"),
        (lambda d: d["config"].update(nin=10**400), "nin must be at most sys.maxsize"),
        (lambda d: d["config"].update(activation=7), "activation must be a name"),
        (lambda d: d["config"].update(seed=1.5), "seed must be an int"),
    ],
)
def test_a_malformed_document_is_a_model_file_error(tmp_path: Path, change: Any, message: str) -> None:
    path = _saved(tmp_path)
    _rewrite(path, change)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_a_neuron_with_an_impossible_fan_out_is_a_model_file_error(tmp_path: Path) -> None:
    path = tmp_path / "n.json"
    save(Neuron(2, init="xavier", seed=0), path)
    path.write_text(path.read_text().replace('"fan_out": 1', '"fan_out": 1' + "0" * 400))
    with pytest.raises(
        ModelFileError, match="fan_out must be at most sys.maxsize .* got an int of about 401 digits"
    ):
        load(path)


def test_a_file_with_many_unexpected_keys_gets_a_short_message(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    _rewrite(path, lambda d: d["parameters"].update({f"extra.{i}": 0.5 for i in range(200_000)}))
    with pytest.raises(ModelFileError) as raised:
        load(path)
    message = str(raised.value)
    assert len(message) < 400, len(message)
    assert "unexpected ['extra.0', 'extra.1', 'extra.2', 'extra.3', 'extra.4', and 199,995 more]" in message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    where=st.sampled_from(
        [
            "class",
            "version",
            "config",
            "parameters",
            "nin",
            "nouts",
            "activation",
            "init",
            "seed",
            "a parameter",
        ]
    ),
    value=json_values,
)
def test_any_value_anywhere_loads_or_is_a_model_file_error(tmp_path: Path, where: str, value: Any) -> None:
    path = tmp_path / "m.json"
    save(MLP(2, [3, 1], seed=0), path)
    document = _document(path)
    if where in ("class", "version", "config", "parameters"):
        document[where] = value
    elif where == "a parameter":
        document["parameters"]["layers.0.neurons.1.w.0"] = value
    else:
        document["config"][where] = value
    path.write_text(json.dumps(document))
    try:
        model = load(path)
    except ModelFileError:
        return
    assert isinstance(model, Module)
