"""A worker process of the pool: reads tasks from its pipe, runs them, answers, one at a time.

Answers go back framed (an 8-byte length, then the pickle) on a pipe of their own, which the
service reads as bytes arrive: its event loop may have made the pipe non-blocking (uvloop does),
and a large answer must not hold the loop until all of it is written.
"""

from __future__ import annotations

import os
import pickle
import struct
from multiprocessing.connection import Connection

#: a worker retires after this many tasks, so a slow leak in a native library stays bounded
TASKS_PER_WORKER = 500
_LENGTH = struct.Struct("!Q")


def serve(tasks: Connection, answers: Connection, limit: int) -> None:
    """Answer each task with ``(ok, result or exception, retiring)``; stop after ``limit``
    tasks (the last answer says so) or when the service closes the task pipe."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    os.setpgrp()  # its own process group: killing it takes its Tesseract child along
    for done in range(1, limit + 1):
        try:
            fn, args, kwargs = tasks.recv()
        except EOFError:
            return
        retiring = done == limit
        try:
            answer = (True, fn(*args, **kwargs), retiring)
        except BaseException as exc:  # every error goes back to the service
            answer = (False, exc, retiring)
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # the result or the error cannot be pickled
            error = RuntimeError(f"the task's answer cannot be sent back: {exc}")
            data = pickle.dumps((False, error, retiring))
        _write_all(answers.fileno(), _LENGTH.pack(len(data)) + data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def take_answer(buffer: bytearray) -> bytes | None:
    """The first whole answer in ``buffer`` (taken out of it), or None until it has arrived."""
    if len(buffer) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack_from(buffer)
    end = _LENGTH.size + size
    if len(buffer) < end:
        return None
    answer = bytes(buffer[_LENGTH.size : end])
    del buffer[:end]
    return answer
