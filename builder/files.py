"""Writing files atomically, readable as the umask allows, with big weights beside the model.

Every file we write goes through a temp file in the target folder and a rename, so a failure
leaves the old file whole. Files get the mode a plain ``open(path, "w")`` would give (0644 under
umask 022), never the 0600 of the temp file, so a server running as another user (Triton) can
read them. A model whose weights would not fit protobuf's 2 GB limit is written with its
initializers as external data in one file beside it, named after its content, so the old model
and its data stay intact until the new pair is complete.

>>> import tempfile, pathlib
>>> path = save_atomic(b"hello", pathlib.Path(tempfile.mkdtemp()) / "a.txt")
>>> path.read_bytes(), oct(path.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())
(b'hello', True)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import onnx
from onnx.external_data_helper import convert_model_to_external_data

EXTERNAL_DATA_THRESHOLD = 2**31 - 2**26
"""Initializer bytes above which a model is saved with external data (protobuf's limit is 2 GB;
the margin leaves room for the graph and metadata)."""


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows.

    >>> 0 <= current_umask() <= 0o777
    True
    """
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # no /proc: read it by setting it (and put it back at once)
    os.umask(mask)
    return mask


def save_atomic(data: bytes, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename; the file
    gets mode ``0o666 & ~umask`` like any newly created file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def make_dir_public(path: str | os.PathLike[str]) -> None:
    """Give a folder made private by ``tempfile.mkdtemp`` the mode ``0o777 & ~umask``."""
    os.chmod(path, 0o777 & ~current_umask())


def initializer_bytes(model: onnx.ModelProto) -> int:
    """Bytes of the model's initializers as they would be serialized."""
    return sum(t.ByteSize() for t in model.graph.initializer)


def save_model(
    model: onnx.ModelProto,
    path: str | os.PathLike[str],
    *,
    external_threshold: int = EXTERNAL_DATA_THRESHOLD,
) -> Path:
    """Save ``model`` atomically; with more than ``external_threshold`` bytes of initializers,
    they go to ``<name>.<content digest>.data`` beside it (written and renamed first, so the
    model never points at a missing or partial file; the previous data file is removed after).

    ``model`` itself is not changed.
    """
    target = Path(path)
    if initializer_bytes(model) <= external_threshold:
        return save_atomic(model.SerializeToString(), target)
    target.parent.mkdir(parents=True, exist_ok=True)
    previous = _data_files(target)
    proto = onnx.ModelProto()
    proto.CopyFrom(model)
    digest = hashlib.sha256()
    for tensor in proto.graph.initializer:
        digest.update(tensor.SerializeToString(deterministic=True))
    location = f"{target.name}.{digest.hexdigest()[:16]}.data"
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as tmp:
        convert_model_to_external_data(
            proto, all_tensors_to_one_file=True, location=location, size_threshold=1024
        )
        onnx.save_model(proto, os.path.join(tmp, target.name))
        data = Path(tmp, location)
        with open(data, "rb+") as f:
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            os.fsync(f.fileno())
        os.replace(data, target.parent / location)
        save_atomic(Path(tmp, target.name).read_bytes(), target)
    for old in previous - {location}:
        with contextlib.suppress(OSError):
            (target.parent / old).unlink()
    return target


def _data_files(target: Path) -> set[str]:
    """External data files a model already at ``target`` refers to (none when it is not ours
    or not there)."""
    if not target.is_file():
        return set()
    try:
        proto = onnx.load(os.fspath(target), load_external_data=False)
    except Exception:
        return set()
    return {
        entry.value
        for t in proto.graph.initializer
        for entry in t.external_data
        if entry.key == "location" and entry.value.startswith(f"{target.name}.")
    }
