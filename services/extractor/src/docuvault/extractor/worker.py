"""A worker process of the pool: reads tasks from its pipe, runs them, answers, one at a time."""

from __future__ import annotations

import os
from multiprocessing.connection import Connection

#: a worker retires after this many tasks, so a slow leak in a native library stays bounded
TASKS_PER_WORKER = 500


def serve(conn: Connection, tasks: int) -> None:
    """Answer each task with ``(ok, result or exception, retiring)``; stop after ``tasks``
    tasks (the last answer says so) or when the service closes the pipe."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    os.setpgrp()  # its own process group: killing it takes its Tesseract child along
    for done in range(1, tasks + 1):
        try:
            fn, args, kwargs = conn.recv()
        except EOFError:
            return
        retiring = done == tasks
        try:
            answer = (True, fn(*args, **kwargs), retiring)
        except BaseException as exc:  # every error goes back to the service
            answer = (False, exc, retiring)
        try:
            conn.send(answer)
        except Exception as exc:  # the result or the error cannot be pickled
            error = RuntimeError(f"the task's answer cannot be sent back: {exc}")
            conn.send((False, error, retiring))
