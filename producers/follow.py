"""Follow a growing log file like ``tail -F``, remembering how far it got.

Reads whole lines only (a line still being written waits for its newline),
notices rotation (the path now names another file: the old one is read to its
end first) and truncation (the file got shorter: start again at 0), and keeps
its position, with the converter's calls in progress, in a small JSON state
file written atomically after each delivered chunk. A restart resumes there:
nothing is lost; a line read again after a crash between delivery and saving
makes the same event ids, which the worker counts once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["Follower"]

_CHUNK = 1 << 20


@dataclass
class _Open:
    handle: IO[bytes]
    inode: int


class Follower:
    def __init__(self, path: Path, state_path: Path) -> None:
        self.path = path
        self.state_path = state_path
        self.current: _Open | None = None
        self.offset = 0
        self.extra: dict[str, Any] = {}  # the caller's own state, saved with the position
        self.rotations = 0
        self.truncations = 0
        self._load()

    # ------------------------------------------------------------ state file
    def _load(self) -> None:
        if not self.state_path.exists():
            return
        state = json.loads(self.state_path.read_text())
        self.extra = state.get("extra", {})
        inode, offset = state.get("inode"), int(state.get("offset", 0))
        if inode is None:
            return
        try:
            if os.stat(self.path).st_ino == inode:
                self._open(self.path, offset)
                return
        except FileNotFoundError:
            pass
        # Rotated while we were down: finish the old file if logrotate kept it beside.
        rotated = self.path.with_name(self.path.name + ".1")
        try:
            if os.stat(rotated).st_ino == inode:
                self._open(rotated, offset)
        except FileNotFoundError:
            pass

    def save(self) -> None:
        state = {"path": str(self.path), "inode": self.current.inode if self.current else None,
                 "offset": self.offset, "extra": self.extra}
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_path)

    # --------------------------------------------------------------- reading
    def _open(self, path: Path, offset: int) -> None:
        handle = path.open("rb")
        size = os.fstat(handle.fileno()).st_size
        if offset > size:
            self.truncations += 1
            offset = 0
        handle.seek(offset)
        self.current = _Open(handle, os.fstat(handle.fileno()).st_ino)
        self.offset = offset

    def _switch_if_rotated(self) -> bool:
        """After the old file is drained: move to the file the path names now."""
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            return False
        if self.current is not None and inode == self.current.inode:
            size = os.stat(self.path).st_size
            if size < self.offset:  # truncated in place
                self.truncations += 1
                self.current.handle.seek(0)
                self.offset = 0
                return True
            return False
        if self.current is not None:
            self.current.handle.close()
            self.rotations += 1
        self._open(self.path, 0)
        return True

    def read_lines(self) -> list[bytes]:
        """Every complete line available now (possibly across a rotation)."""
        out: list[bytes] = []
        if self.current is None and not self._switch_if_rotated():
            return out
        while True:
            assert self.current is not None
            data = self.current.handle.read(_CHUNK)
            if data:
                end = data.rfind(b"\n")
                if end < 0:
                    self.current.handle.seek(self.offset)  # a partial line: wait for the rest
                else:
                    out.extend(data[:end + 1].splitlines())
                    self.offset += end + 1
                    self.current.handle.seek(self.offset)
                    if len(data) == _CHUNK:
                        continue
            if not self._switch_if_rotated():
                return out

    def run(self, deliver: Callable[[list[bytes]], None], stop: Callable[[], bool],
            wait: Callable[[], object]) -> None:
        """Deliver lines as they come, saving the position after each delivery."""
        while not stop():
            lines = self.read_lines()
            if lines:
                deliver(lines)
                self.save()
            else:
                wait()

    def close(self) -> None:
        if self.current is not None:
            self.current.handle.close()
