# cython: language_level=3, embedsignature=True, boundscheck=False, wraparound=False
# cython: freethreading_compatible=False
# distutils: language = c++
"""The compiled engine: isolated-vm's model over V8 (see DESIGN.md, "Engine API").

Import the public names from :mod:`ivmhost`, not from here.
"""

import datetime
import traceback
import warnings

import anyio

from ivmhost._async import Waker
from ivmhost._errors import (
    IsolateDisposedError,
    IvmhostError,
    JSError,
    MemoryLimitError,
    ReleasedError,
    ScriptTimeoutError,
    TransferError,
)
from ivmhost._types import HeapStatistics
from ivmhost._undefined import undefined

include "_pyx/native.pxi"
include "_pyx/values.pxi"
include "_pyx/failures.pxi"
include "_pyx/calls.pxi"
include "_pyx/isolate.pxi"
include "_pyx/context.pxi"
include "_pyx/script.pxi"
include "_pyx/reference.pxi"
include "_pyx/external_copy.pxi"  # ExternalCopy

v8_version = V8Version().decode("ascii")


def live_isolates():
    """How many isolates exist in this process (not yet disposed); for leak checks."""
    return LiveIsolates()
