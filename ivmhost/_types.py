"""Plain data types of the engine API."""

from __future__ import annotations

import attrs

__all__ = ["HeapStatistics", "TransferOptions"]


@attrs.frozen
class HeapStatistics:
    """An isolate's heap, with V8's field names (bytes, except the context counts).

    ``externally_allocated_size`` is the ArrayBuffer memory the isolate holds outside its heap; it
    counts against the isolate's memory limit as in isolated-vm.
    """

    total_heap_size: int
    total_heap_size_executable: int
    total_physical_size: int
    total_available_size: int
    used_heap_size: int
    heap_size_limit: int
    malloced_memory: int
    external_memory: int
    peak_malloced_memory: int
    number_of_native_contexts: int
    number_of_detached_contexts: int
    does_zap_garbage: bool
    externally_allocated_size: int


@attrs.frozen
class TransferOptions:
    """How a value crosses between Python and JavaScript (isolated-vm's TransferOptions).

    - ``copy``: a structured clone (Map, Set, Date, RegExp, typed arrays, cycles...).
    - ``external_copy``: an :class:`ExternalCopy` of the value.
    - ``reference``: a :class:`Reference` to the value, which stays where it is.
    - ``promise``: a JavaScript promise is awaited (its settled value crosses with the other
      options); a Python awaitable passed in becomes a JavaScript promise.

    With none set, primitives, plain arrays and plain objects are copied, functions become
    callbacks, and anything else raises TransferError.
    """

    copy: bool = False
    external_copy: bool = False
    reference: bool = False
    promise: bool = False

    def __attrs_post_init__(self) -> None:
        if self.copy + self.external_copy + self.reference > 1:
            raise ValueError("choose at most one of copy, external_copy and reference")
