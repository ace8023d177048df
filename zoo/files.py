"""Atomic file writes and safe config reading shared by checkpoints and model folders."""
from __future__ import annotations

import ctypes
import errno
import os
import tempfile
from pathlib import Path
from typing import Callable

from omegaconf import OmegaConf

__all__ = ["atomic_write", "exchange_folders", "write_yaml", "read_yaml"]


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)``, fsync, then rename over ``path``: readers see the old file or the
    new one, never a half-written one, and a killed writer leaves the old file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def exchange_folders(new: str | os.PathLike, old: str | os.PathLike) -> None:
    """Swap two folders in place: afterwards ``old`` holds what ``new`` held and ``new`` what ``old`` held.
    On Linux one ``renameat2(RENAME_EXCHANGE)`` call does it atomically (readers see one folder or the
    other, never neither); elsewhere three renames, with ``old`` missing for a moment between them."""
    new, old = Path(new), Path(old)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(new), at_fdcwd, os.fsencode(old), rename_exchange) == 0:
            return
        if ctypes.get_errno() not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(ctypes.get_errno(), f"cannot exchange {new} and {old}: {os.strerror(ctypes.get_errno())}")
    parked = old.with_name(f".{old.name}.old-{os.getpid()}")
    os.replace(old, parked)
    os.replace(new, old)
    os.replace(parked, new)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_yaml(path, data: dict) -> Path:
    return atomic_write(path, lambda tmp: OmegaConf.save(OmegaConf.create(data), tmp))


def _has_interpolation(node) -> bool:
    if isinstance(node, dict):
        return any(_has_interpolation(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_interpolation(v) for v in node)
    return isinstance(node, str) and "${" in node


def read_yaml(path) -> dict:
    """A YAML file as plain data; ``${...}`` interpolations are refused (a config is data, not code)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist")
    try:
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as error:  # omegaconf/yaml parse errors
        raise ValueError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    if _has_interpolation(data):
        raise ValueError(f"{path}: contains a ${{...}} interpolation; model configs must be plain data")
    return data
