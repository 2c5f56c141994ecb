"""Save a network to a JSON file and load it back: architecture and parameters.

The file is plain JSON a person can read, one parameter per line::

    {"format": "microgrid-model", "version": 1, "class": "MLP",
     "config": {"nin": 2, "nouts": [16, 16, 1], ...},
     "parameters": {"layers.0.neurons.0.w.0": 0.2214..., ...}}

Floats are written with ``repr``, so they load back bit for bit. Writing is
atomic: a failed save never leaves a half-written file in place of a good one.
Loading checks everything before building or changing a model. No pickle, no
eval: a model file cannot run code.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TextIO

from microgrid.nn import MLP, Layer, Module, Neuron

FORMAT = "microgrid-model"
VERSION = 1
# the classes a file may name; a file cannot make anything else
MODEL_CLASSES: dict[str, type[Module]] = {"MLP": MLP, "Layer": Layer, "Neuron": Neuron}
# constructor arguments that only choose initial values, which loading replaces
_INITIAL_ONLY = ("init", "seed", "fan_out")

PathLike = str | os.PathLike[str]


class ModelFileError(ValueError):
    """A model file that cannot be loaded: unreadable, truncated, corrupt or not matching."""


def save(model: Module, path: PathLike) -> None:
    """Write ``model`` (class, ``config()``, ``state_dict()``) to ``path`` as JSON, atomically.

    The file is written beside ``path`` under a temporary name, flushed to
    disk, then renamed over ``path``; if anything fails on the way, ``path``
    keeps its old content and the temporary file is removed. Raises
    ``ValueError`` for a model class that ``load`` could not rebuild, or for
    a parameter that is inf or nan (an optimizer step can overflow one).
    """
    name = type(model).__name__
    if MODEL_CLASSES.get(name) is not type(model):
        raise ValueError(f"cannot save a {name}: load can rebuild only {sorted(MODEL_CLASSES)}")
    parameters = model.state_dict()
    document = {
        "format": FORMAT,
        "version": VERSION,
        "class": name,
        "config": model.config(),
        "parameters": parameters,
    }
    try:
        # json writes floats with repr, exactly; allow_nan=False: inf and nan are not JSON
        _write_atomically(path, lambda file: json.dump(document, file, indent=1, allow_nan=False))
    except ValueError:
        bad = [key for key, value in parameters.items() if not math.isfinite(value)]
        if not bad:
            raise
        # an optimizer step can overflow a parameter: training diverged
        raise ValueError(
            f"cannot save {name}: parameter {bad[0]!r} is not finite (did training diverge?)"
        ) from None


def load(path: PathLike) -> Module:
    """Build the model saved in ``path``, with its parameters.

    Raises ``ModelFileError`` (a ``ValueError``) naming the file and the
    problem for a file that is not a microgrid model, is truncated or corrupt,
    names an unknown class, or whose parameters do not fit its architecture;
    ``OSError`` when it cannot be read.
    """
    document = _read(path)
    # before building anything: a file may not ask for more parameters than it holds
    described, held = _parameter_count(document["class"], document["config"]), len(document["parameters"])
    if described is not None and described > held:
        _fail(path, f"its config describes {described} parameters but it holds only {held}: some are missing")
    cls = MODEL_CLASSES[document["class"]]
    try:
        model = cls(**document["config"])
    except (TypeError, ValueError) as error:
        _fail(path, f"its config does not build a {document['class']}: {error}")
    _load_parameters(path, model, document["parameters"])
    return model


def load_into(model: Module, path: PathLike) -> None:
    """Set ``model``'s parameters from the file at ``path``, which must hold the same architecture.

    The file's class and config must match the model's (ignoring ``init``,
    ``seed`` and ``fan_out``, which only choose initial values) and it must
    hold exactly the model's parameters. Everything is checked first: on any
    error the model is unchanged. Raises ``ModelFileError`` as ``load`` does.
    """
    document = _read(path)
    if document["class"] != type(model).__name__:
        _fail(path, f"it holds a {document['class']}, not a {type(model).__name__}")
    ours, theirs = _architecture(model.config()), _architecture(document["config"])
    if ours != theirs:
        _fail(path, f"its architecture {theirs} differs from the model's {ours}")
    _load_parameters(path, model, document["parameters"])


def _write_atomically(path: PathLike, write: Callable[[TextIO], None]) -> None:
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open, not mkstemp: mode 0o666 under the umask, as any new file gets, not mkstemp's 0o600
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())  # the data is on disk before the rename makes it visible
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(target.parent)


def _sync_directory(directory: Path) -> None:
    # makes the rename itself durable; directories cannot be opened on Windows
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _read(path: PathLike) -> dict[str, Any]:
    # the parsed document, checked for shape and types (not yet against a model)
    raw = Path(path).read_bytes()
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        _fail(path, f"it is not valid JSON (truncated or corrupt?): {error}")
    except ValueError as error:
        _fail(path, str(error))
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        _fail(path, f'it is not a microgrid model file (no "format": "{FORMAT}")')
    if document.get("version") != VERSION:
        _fail(path, f"it has format version {document.get('version')!r}; this microgrid reads {VERSION}")
    for key in ("class", "config", "parameters"):
        if key not in document:
            _fail(path, f'it has no "{key}"')
    if document["class"] not in MODEL_CLASSES:
        _fail(path, f"it names an unknown class {document['class']!r}; known: {sorted(MODEL_CLASSES)}")
    if not isinstance(document["config"], dict):
        _fail(path, f'its "config" must be an object, got {document["config"]!r}')
    parameters = document["parameters"]
    if not isinstance(parameters, dict):
        _fail(path, f'its "parameters" must be an object, got {type(parameters).__name__}')
    return document


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"it holds {name}, but parameters must be finite numbers")


def _load_parameters(path: PathLike, model: Module, parameters: dict[str, Any]) -> None:
    # load_state_dict checks names and values before it changes anything
    try:
        model.load_state_dict(parameters)
    except (TypeError, ValueError) as error:
        _fail(path, f"its parameters do not fit the model: {error}")


def _parameter_count(name: str, config: dict[str, Any]) -> int | None:
    """The parameters a config describes (weights and a bias per neuron); None if it is malformed."""
    try:
        sizes = {
            "Neuron": lambda: [config["nin"], 1],
            "Layer": lambda: [config["nin"], config["nout"]],
            "MLP": lambda: [config["nin"], *config["nouts"]],
        }[name]()
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in sizes):
            return None
    except (KeyError, TypeError):
        return None  # the constructor reports what is wrong with it
    return int(sum((nin + 1) * nout for nin, nout in zip(sizes, sizes[1:])))


def _architecture(config: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in _INITIAL_ONLY}


def _fail(path: PathLike, problem: str) -> NoReturn:
    raise ModelFileError(f"cannot load {os.fspath(path)!r}: {problem}")
