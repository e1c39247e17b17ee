# cython: language_level=3, embedsignature=True, boundscheck=False, wraparound=False
# cython: freethreading_compatible=False
# distutils: language = c++
"""The compiled engine: isolated-vm's model over V8 (see DESIGN.md, "Engine API").

Import the public names from :mod:`ivmhost`, not from here.
"""

import atexit
import sys
import datetime
import inspect
import json
import logging
import os
import signal
import weakref
import traceback
import types
from collections.abc import Mapping, MutableMapping, MutableSequence, Sequence
import warnings

import anyio

from ivmhost._async import PromiseWaiter, Waker, current_runner, running_event_loop, start_host_call
from ivmhost._errors import (
    IsolateDisposedError,
    IvmhostError,
    JSError,
    MemoryLimitError,
    ReleasedError,
    ScriptTimeoutError,
    TransferError,
    _WouldBlockLoopError,
)
from ivmhost._types import HeapStatistics, TransferOptions
from ivmhost._undefined import UndefinedType, undefined

include "_pyx/native.pxi"
include "_pyx/values.pxi"
include "_pyx/failures.pxi"
include "_pyx/calls.pxi"
include "_pyx/isolate.pxi"
include "_pyx/context.pxi"
include "_pyx/script.pxi"
include "_pyx/reference.pxi"
include "_pyx/callback.pxi"
include "_pyx/module.pxi"
include "_pyx/external_copy.pxi"  # ExternalCopy
include "_pyx/inspector.pxi"

v8_version = V8Version().decode("ascii")


def live_isolates():
    """How many isolates exist in this process (not yet disposed); for leak checks."""
    return LiveIsolates()
