"""How messages between a parent and its workers are pickled.

``dumps`` pickles plain data (numbers, strings, tuples, shared memories, exceptions,
functions of importable modules) with the standard library's C pickler, about ten times
faster than dill's pure-Python one (a two-worker ``map`` of a small task spent most of its
dispatch time pickling), and everything else with dill (``multiprocess``'s pickler:
lambdas, closures, what lives in ``__main__``). Both sides read with ``multiprocess``'s
unpickler, which reads either. ``multiprocess``'s registered reducers apply to both.
"""
from __future__ import annotations

import copyreg
import io
import pickle
from typing import Any

from multiprocess.reduction import ForkingPickler

__all__ = ["dumps", "send"]

_MAIN_NAMES = (b"__main__", b"__mp_main__")


class _CPickler(pickle.Pickler):
    def __init__(self, file: Any):
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        self.dispatch_table = {**copyreg.dispatch_table, **ForkingPickler._extra_reducers}


def dumps(obj: Any) -> bytes:
    """``obj`` pickled for another process of this program."""
    buf = io.BytesIO()
    try:
        _CPickler(buf).dump(obj)
    except Exception:
        return ForkingPickler.dumps(obj)
    payload = buf.getvalue()
    if any(name in payload for name in _MAIN_NAMES):
        return ForkingPickler.dumps(obj)        # by value, as dill does, not by reference
    return payload


def send(conn: Any, obj: Any) -> None:
    """``conn.send(obj)`` through ``dumps``."""
    conn.send_bytes(dumps(obj))
