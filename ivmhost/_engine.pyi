"""Type stub for the compiled engine, ivmhost._engine."""

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, final

from collections.abc import Awaitable

from ivmhost._types import HeapStatistics, TransferOptions

v8_version: str

def live_isolates() -> int: ...

@final
class Isolate:
    """A V8 isolate: its own heap, garbage collector and limits."""

    memory_limit: int
    inspector: bool
    def __init__(
        self,
        memory_limit: int | float = 128,
        *,
        inspector: bool = False,
        snapshot: ExternalCopy | bytes | None = None,
        on_catastrophic_error: Callable[[str], object] | None = None,
        import_module: Callable[[str, Module | str], Module] | None = None,
    ) -> None: ...
    import_module: Callable[[str, Module | str], Module] | None
    @staticmethod
    def create_snapshot(scripts: Sequence[dict[str, str]], warmup_script: str | None = None) -> ExternalCopy: ...
    @property
    def is_disposed(self) -> bool: ...
    @property
    def reference_count(self) -> int: ...
    @property
    def cpu_time(self) -> int: ...
    @property
    def wall_time(self) -> int: ...
    def dispose(self) -> None: ...
    def create_context_sync(self, *, inspector: bool = False) -> Context: ...
    async def create_context(self, *, inspector: bool = False) -> Context: ...
    def create_inspector_session(self) -> InspectorSession: ...
    def compile_script_sync(
        self,
        code: str,
        *,
        filename: str | None = None,
        line_offset: int = 0,
        column_offset: int = 0,
        cached_data: ExternalCopy | bytes | None = None,
        produce_cached_data: bool = False,
    ) -> Script: ...
    async def compile_script(
        self,
        code: str,
        *,
        filename: str | None = None,
        line_offset: int = 0,
        column_offset: int = 0,
        cached_data: ExternalCopy | bytes | None = None,
        produce_cached_data: bool = False,
    ) -> Script: ...
    def compile_module_sync(
        self,
        code: str,
        *,
        filename: str | None = None,
        line_offset: int = 0,
        column_offset: int = 0,
        meta: Callable[[Reference], object] | None = None,
        cached_data: ExternalCopy | bytes | None = None,
        produce_cached_data: bool = False,
    ) -> Module: ...
    async def compile_module(
        self,
        code: str,
        *,
        filename: str | None = None,
        line_offset: int = 0,
        column_offset: int = 0,
        meta: Callable[[Reference], object] | None = None,
        cached_data: ExternalCopy | bytes | None = None,
        produce_cached_data: bool = False,
    ) -> Module: ...
    def start_cpu_profiler(self, title: str) -> None: ...
    def stop_cpu_profiler(self, title: str) -> list[dict[str, Any]]: ...
    def stop_cpu_profiler_sync(self, title: str) -> list[dict[str, Any]]: ...
    def get_heap_statistics_sync(self) -> HeapStatistics: ...
    async def get_heap_statistics(self) -> HeapStatistics: ...
    def __enter__(self) -> Isolate: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def __aenter__(self) -> Isolate: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

class _Handle:
    @property
    def isolate(self) -> Isolate: ...

class _Compiled(_Handle):
    @property
    def cached_data(self) -> ExternalCopy: ...
    @property
    def cached_data_rejected(self) -> bool: ...

@final
class Context(_Handle):
    """A JavaScript global object and its builtins, inside an isolate."""

    @property
    def global_(self) -> Reference: ...
    @property
    def is_released(self) -> bool: ...
    def release(self) -> None: ...
    def eval_sync(
        self,
        code: str,
        *,
        timeout: float | None = None,
        filename: str | None = None,
        line_offset: int = 0,
        column_offset: int = 0,
        copy: bool = False,
        external_copy: bool = False,
        reference: bool = False,
        promise: bool = False,
    ) -> Any: ...
    async def eval(
        self,
        code: str,
        *,
        timeout: float | None = None,
        filename: str | None = None,
        line_offset: int = 0,
        column_offset: int = 0,
        copy: bool = False,
        external_copy: bool = False,
        reference: bool = False,
        promise: bool = False,
    ) -> Any: ...
    def eval_ignored(
        self,
        code: str,
        *,
        timeout: float | None = None,
        filename: str | None = None,
        line_offset: int = 0,
        column_offset: int = 0,
    ) -> None: ...
    def eval_closure_sync(
        self,
        code: str,
        args: Sequence[Any] = (),
        *,
        arguments: TransferOptions | None = None,
        result: TransferOptions | None = None,
        timeout: float | None = None,
        filename: str | None = None,
    ) -> Any: ...
    async def eval_closure(
        self,
        code: str,
        args: Sequence[Any] = (),
        *,
        arguments: TransferOptions | None = None,
        result: TransferOptions | None = None,
        timeout: float | None = None,
        filename: str | None = None,
    ) -> Any: ...
    def _external_copy_of(  # ExternalCopy (private, for tests)
        self, code: str, *, transfer_list: str | None = None, transfer_out: bool = False
    ) -> ExternalCopy: ...
    def eval_closure_ignored(
        self,
        code: str,
        args: Sequence[Any] = (),
        *,
        arguments: TransferOptions | None = None,
        timeout: float | None = None,
        filename: str | None = None,
    ) -> None: ...
    def __enter__(self) -> Context: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def __aenter__(self) -> Context: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

@final
class Script(_Compiled):
    """Compiled code; run it in any context of its isolate."""

    def release(self) -> None: ...
    def run_sync(
        self,
        context: Context,
        *,
        timeout: float | None = None,
        release: bool = False,
        copy: bool = False,
        external_copy: bool = False,
        reference: bool = False,
        promise: bool = False,
    ) -> Any: ...
    async def run(
        self,
        context: Context,
        *,
        timeout: float | None = None,
        release: bool = False,
        copy: bool = False,
        external_copy: bool = False,
        reference: bool = False,
        promise: bool = False,
    ) -> Any: ...
    def run_ignored(self, context: Context, *, timeout: float | None = None, release: bool = False) -> None: ...

@final
class Reference(_Handle):
    """A handle to a value that stays where it is (a JavaScript value, or a lent Python object)."""

    typeof: str
    def __init__(self, value: Any, *, unsafe_inherit: bool = False) -> None: ...
    def release(self) -> None: ...
    def deref(self, *, release: bool = False) -> Any: ...
    def deref_into(self, *, release: bool = False) -> object: ...
    def copy_sync(self) -> Any: ...
    async def copy(self) -> Any: ...
    def get_sync(self, key: str | int) -> Any: ...
    async def get(self, key: str | int) -> Any: ...
    def set_sync(self, key: str | int, value: Any) -> bool: ...
    async def set(self, key: str | int, value: Any) -> bool: ...
    def set_ignored(self, key: str | int, value: Any) -> None: ...
    def delete_sync(self, key: str | int) -> bool: ...
    async def delete(self, key: str | int) -> bool: ...
    def delete_ignored(self, key: str | int) -> None: ...
    def apply_sync(
        self,
        receiver: Any = None,
        args: Sequence[Any] = (),
        *,
        arguments: TransferOptions | None = None,
        result: TransferOptions | None = None,
        timeout: float | None = None,
    ) -> Any: ...
    async def apply(
        self,
        receiver: Any = None,
        args: Sequence[Any] = (),
        *,
        arguments: TransferOptions | None = None,
        result: TransferOptions | None = None,
        timeout: float | None = None,
    ) -> Any: ...
    def apply_ignored(
        self,
        receiver: Any = None,
        args: Sequence[Any] = (),
        *,
        arguments: TransferOptions | None = None,
        timeout: float | None = None,
        on_error: Callable[[BaseException], object] | None = None,
    ) -> None: ...
    def apply_sync_promise(
        self,
        receiver: Any = None,
        args: Sequence[Any] = (),
        *,
        arguments: TransferOptions | None = None,
        result: TransferOptions | None = None,
        timeout: float | None = None,
    ) -> Any: ...

@final
class Callback:
    """A Python callable as a JavaScript function."""

    fn: Callable[..., Any]
    async_: bool
    ignored: bool
    sync: bool
    def __init__(
        self,
        fn: Callable[..., Any | Awaitable[Any]],
        *,
        async_: bool = False,
        ignored: bool = False,
        sync: bool = False,
    ) -> None: ...
    def __call__(self, *args: Any) -> Any: ...

# ExternalCopy

@final
class InspectorSession:
    """A Chrome DevTools Protocol session on an isolate made with ``inspector=True``."""

    isolate: Isolate
    on_response: Callable[[int, str], object] | None
    on_notification: Callable[[str], object] | None
    @property
    def is_disposed(self) -> bool: ...
    def dispatch_protocol_message(self, message: str | bytes) -> None: ...
    def dispose(self) -> None: ...
    def __enter__(self) -> InspectorSession: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

@final
class ExternalCopy:
    """A structured clone of a value, held outside any isolate."""

    def __init__(
        self, value: Any, *, transfer_list: Sequence[bytearray] | None = None, transfer_out: bool = False
    ) -> None: ...
    @staticmethod
    def total_external_size() -> int: ...
    def copy(self, *, release: bool = False, transfer_in: bool = False) -> Any: ...
    def copy_into(self, *, release: bool = False, transfer_in: bool = False) -> _CopyInto: ...
    def release(self) -> None: ...

@final
class _CopyInto:
    """The single-use result of ExternalCopy.copy_into(): pass it into an isolate once."""

@final
class Module(_Compiled):
    """An ES module: link it with a resolver, evaluate it, read its namespace."""

    dependency_specifiers: tuple[str, ...]
    def release(self) -> None: ...
    def instantiate_sync(self, context: Context, resolve: Callable[[str, Module], Module]) -> None: ...
    async def instantiate(
        self, context: Context, resolve: Callable[[str, Module], Module | Awaitable[Module]]
    ) -> None: ...
    def evaluate_sync(self, *, timeout: float | None = None) -> None: ...
    async def evaluate(self, *, timeout: float | None = None) -> None: ...
    @property
    def namespace(self) -> Reference: ...
