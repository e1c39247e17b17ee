"""Plain data types of the engine API."""

from __future__ import annotations

import attrs

__all__ = ["HeapStatistics"]


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
