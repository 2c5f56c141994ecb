"""Save a network to a JSON file and load it back: architecture and parameters.

The file is plain JSON a person can read, one parameter per line::

    {"format": "microgrid-model", "version": 1, "class": "MLP",
     "config": {"nin": 2, "nouts": [16, 16, 1], ...},
     "parameters": {"layers.0.neurons.0.w.0": 0.2214..., ...}}

Floats are written with ``repr``, so they load back bit for bit. Writing is
atomic: a failed (or killed) save never leaves a half-written file in place
of a good one, and otherwise behaves as ``open(path, "w")`` would. Loading
checks everything before building or changing a model; any malformed file is
a ``ModelFileError``. No pickle, no eval: a model file cannot run code.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import re
import stat
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TextIO

from microgrid import checks
from microgrid.nn import MLP, Layer, Module, Neuron

try:
    import fcntl  # a writer locks its temporary file, so others can tell it from one left by a killed save
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

FORMAT = "microgrid-model"
VERSION = 1
# the classes a file may name; a file cannot make anything else
MODEL_CLASSES: dict[str, type[Module]] = {"MLP": MLP, "Layer": Layer, "Neuron": Neuron}
# constructor arguments that only choose initial values, which loading replaces
_INITIAL_ONLY = ("init", "seed", "fan_out")
# an empty temporary younger than this may belong to a save between creating and locking it
_JUST_CREATED_SECONDS = 60.0

PathLike = str | os.PathLike[str]


class ModelFileError(ValueError):
    """A model file that cannot be loaded: unreadable, truncated, corrupt or not matching."""


def save(model: Module, path: PathLike) -> None:
    """Write ``model`` (class, ``config()``, ``state_dict()``) to ``path`` as JSON, atomically.

    The file is written beside ``path`` under a temporary name, flushed to
    disk, then renamed over ``path``; if anything fails on the way, ``path``
    keeps its old content and the temporary file is removed, and temporaries
    left by a save that was killed (SIGKILL, power loss) are removed by the
    next save to the same place. Otherwise it behaves as ``open(path, "w")``:
    it writes through a symlink to the file it points to, an existing file
    keeps its mode and owner (a new one gets the usual mode under the umask),
    and a file you may not write (read-only) raises ``PermissionError``.

    Raises ``ValueError`` for a model class that ``load`` could not rebuild;
    ``OSError`` naming ``path`` when it cannot be written. (Parameters are
    always finite: a Value holds only finite numbers.)
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
    # json writes floats with repr, exactly
    _write_atomically(path, lambda file: json.dump(document, file, indent=1, allow_nan=False))


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
    except (TypeError, ValueError, ArithmeticError) as error:
        _fail(path, f"its config does not build a {document['class']}: {checks.shortened(str(error))}")
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
        _fail(path, f"its architecture {checks.shown(theirs)} differs from the model's {checks.shown(ours)}")
    _load_parameters(path, model, document["parameters"])


def _write_atomically(path: PathLike, write: Callable[[TextIO], None]) -> None:
    # errors name the path the user gave, never our temporary file
    try:
        target = Path(os.path.realpath(path))  # through symlinks: a link keeps pointing at the file
        existing = _replaceable(target)
        _remove_stale_temporaries(target)
        temporary, descriptor = _new_temporary(target)
    except OSError as error:
        raise _about(error, path) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            if existing is not None:
                _keep_mode_and_owner(descriptor, existing)
            write(file)
            file.flush()
            os.fsync(file.fileno())  # the data is on disk before the rename makes it visible
            if fcntl is not None:
                os.replace(temporary, target)  # still locked: no other save takes it for stale
        if fcntl is None:
            os.replace(temporary, target)  # Windows cannot rename an open file
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise _about(error, path) from None
        raise
    _sync_directory(target.parent)


def _replaceable(target: Path) -> os.stat_result | None:
    """The status of the file a save will replace (None if there is none), refused as open(p, "w") would."""
    try:
        status = os.stat(target)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    if not stat.S_ISREG(status.st_mode):  # a device or a pipe: renaming over it would replace it
        raise OSError(errno.EINVAL, "not a regular file; save writes only files", str(target))
    if not os.access(target, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(target))
    return status


def _keep_mode_and_owner(descriptor: int, existing: os.stat_result) -> None:
    # the new file takes the old one's place, so it takes its owner and mode too (owner first:
    # a change of owner clears the set-user-ID bit)
    if not hasattr(os, "fchown"):  # Windows keeps no POSIX owner or mode
        return
    created = os.fstat(descriptor)
    if (created.st_uid, created.st_gid) != (existing.st_uid, existing.st_gid):
        try:
            os.fchown(descriptor, existing.st_uid, existing.st_gid)
        except PermissionError:
            raise PermissionError(
                errno.EPERM,
                f"cannot keep its owner (uid {existing.st_uid}, gid {existing.st_gid}) in the new file",
            ) from None
    os.fchmod(descriptor, stat.S_IMODE(existing.st_mode))


def _temporary_prefix(target: Path) -> str:
    # ".<name>." cut short so that "<prefix><12 hex digits>.tmp" fits the longest name the directory takes
    try:
        longest = os.pathconf(target.parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        longest = 255
    name = target.name
    while len(os.fsencode(f".{name}.123456789abc.tmp")) > longest:
        name = name[:-1]
    return f".{name}."


def _new_temporary(target: Path) -> tuple[Path, int]:
    temporary = target.with_name(f"{_temporary_prefix(target)}{uuid.uuid4().hex[:12]}.tmp")
    # os.open, not mkstemp: mode 0o666 under the umask, as any new file gets, not mkstemp's 0o600
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    if fcntl is not None:
        # held until the rename, or until the process dies and the kernel drops it
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    return temporary, descriptor


def _remove_stale_temporaries(target: Path) -> None:
    """Remove the temporaries of earlier saves to ``target`` whose writers are gone (killed mid-save).

    A writer holds an exclusive lock on its temporary until the rename, so one
    we can lock has no live writer. A file just created may not be locked yet:
    an empty one younger than a minute is left alone. Without ``flock``
    (Windows) nothing is removed: there is no safe way to tell.
    """
    if fcntl is None:
        return
    pattern = re.compile(re.escape(_temporary_prefix(target)) + r"[0-9a-f]{12}\.tmp")
    try:
        with os.scandir(target.parent) as entries:
            candidates = [Path(entry.path) for entry in entries if pattern.fullmatch(entry.name)]
    except OSError:
        return  # the save itself reports a missing or unreadable directory
    for temporary in candidates:
        _remove_if_stale(temporary)


def _remove_if_stale(temporary: Path) -> None:
    try:
        descriptor = os.open(temporary, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return  # gone already (renamed into place), or not a file of ours
    try:
        status = os.fstat(descriptor)
        young = time.time() - status.st_mtime < _JUST_CREATED_SECONDS
        if not stat.S_ISREG(status.st_mode) or (status.st_size == 0 and young):
            return
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: its writer is alive
        # the lock is ours, so no one writes it; still the same file under that name, not renamed away?
        if os.stat(temporary, follow_symlinks=False).st_ino == status.st_ino:
            os.unlink(temporary)
    except OSError:
        return
    finally:
        os.close(descriptor)


def _about(error: OSError, path: PathLike) -> OSError:
    # the same error, about the path the user gave
    if error.errno is None:
        return error
    return type(error)(error.errno, error.strerror, os.fspath(path))


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
    except _NotFinite as error:
        _fail(path, str(error))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        _fail(path, f"it is not valid JSON (truncated or corrupt?): {checks.shortened(str(error))}")
    except ValueError as error:  # e.g. an integer of more than 4,300 digits
        _fail(path, f"it is not a model file: {checks.shortened(str(error))}")
    except RecursionError:
        _fail(path, "it is not a model file: its JSON is nested too deeply")
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        _fail(path, f'it is not a microgrid model file (no "format": "{FORMAT}")')
    version = document.get("version")
    if type(version) is not int or version != VERSION:  # type: a JSON true would equal 1
        _fail(path, f"it has format version {checks.shown(version)}; this microgrid reads {VERSION}")
    for key in ("class", "config", "parameters"):
        if key not in document:
            _fail(path, f'it has no "{key}"')
    name = document["class"]
    if not isinstance(name, str) or name not in MODEL_CLASSES:
        _fail(path, f"it names an unknown class {checks.shown(name)}; known: {sorted(MODEL_CLASSES)}")
    config = document["config"]
    if not isinstance(config, dict):
        _fail(path, f'its "config" must be an object, got {checks.shown(config)}')
    for key, value in config.items():
        # constructor arguments are numbers, names, or lists of them (layer sizes)
        if isinstance(value, dict) or (
            isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)
        ):
            _fail(path, f'its "config" holds a nested value under {checks.shown(key)}: {checks.shown(value)}')
    parameters = document["parameters"]
    if not isinstance(parameters, dict):
        _fail(path, f'its "parameters" must be an object, got {type(parameters).__name__}')
    return document


class _NotFinite(ValueError):
    """NaN or Infinity in a file: JSON has no such numbers, and parameters must be finite."""


def _reject_constant(name: str) -> NoReturn:
    raise _NotFinite(f"it holds {name}, but parameters must be finite numbers")


def _load_parameters(path: PathLike, model: Module, parameters: dict[str, Any]) -> None:
    # names first, listed briefly however many there are; then load_state_dict checks the values
    names = [name for name, _ in model.named_parameters()]
    known = set(names)
    missing = [name for name in names if name not in parameters]
    unexpected = len(parameters) - (len(names) - len(missing))
    if missing or unexpected:
        first_unexpected = list(itertools.islice((name for name in parameters if name not in known), 5))
        _fail(
            path,
            f"its parameters do not fit the model: missing {_listed(missing[:5], len(missing))}, "
            f"unexpected {_listed(first_unexpected, unexpected)}",
        )
    try:
        model.load_state_dict(parameters)
    except (TypeError, ValueError) as error:
        _fail(path, f"its parameters do not fit the model: {checks.shortened(str(error))}")


def _listed(first: list[str], total: int) -> str:
    # the first few names of a list of total, e.g. ['a', 'b', and 1,999,998 more]
    shown = ", ".join(checks.shown(name) for name in first)
    return f"[{shown}, and {total - len(first):,} more]" if total > len(first) else f"[{shown}]"


def _parameter_count(name: str, config: dict[str, Any]) -> int | None:
    """The parameters a config describes (weights and a bias per neuron); None if it is malformed."""
    try:
        sizes = {
            "Neuron": lambda: [config["nin"], 1],
            "Layer": lambda: [config["nin"], config["nout"]],
            "MLP": lambda: [config["nin"], *config["nouts"]],
        }[name]()
        # sizes beyond sys.maxsize cannot be built: the constructor says so
        if not all(checks.is_int(n) and 0 < int(n) <= sys.maxsize for n in sizes):
            return None
    except (KeyError, TypeError):
        return None  # the constructor reports what is wrong with it
    return int(sum((nin + 1) * nout for nin, nout in zip(sizes, sizes[1:])))


def _architecture(config: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in _INITIAL_ONLY}


def _fail(path: PathLike, problem: str) -> NoReturn:
    raise ModelFileError(f"cannot load {os.fspath(path)!r}: {problem}")
