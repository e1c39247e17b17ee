# Copying values between Python objects and the engine's Val trees (DESIGN.md, "Values crossing").

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.unicode cimport PyUnicode_DecodeLatin1, PyUnicode_DecodeUTF16
from libc.math cimport floor, isfinite, signbit


cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object obj, int* overflow) except? -1
    int PyGC_Disable()
    int PyGC_Enable()
    int PyUnicode_KIND(object s)
    void* PyUnicode_DATA(object s)
    Py_ssize_t PyUnicode_GET_LENGTH(object s)


cdef double _MAX_SAFE = 9007199254740992.0  # 2**53
cdef int _MAX_DEPTH = 1000
cdef size_t _STACK_RESERVE = 64 * 1024
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


cdef int str_to_arg(object s, StrArg* out) except -1:
    """A Python str in V8's encodings: Latin-1 or UTF-16 code units (lone surrogates kept)."""
    cdef int kind = PyUnicode_KIND(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef bytes encoded
    if kind == 1:
        out.data.assign(<const char*>PyUnicode_DATA(s), n)
        out.one_byte = True
    elif kind == 2:
        # UCS-2 is UTF-16 without surrogate pairs; lone surrogates pass through as they are.
        out.data.assign(<const char*>PyUnicode_DATA(s), n * 2)
        out.one_byte = False
    else:
        encoded = (<str>s).encode("utf-16-le", "surrogatepass")
        out.data.assign(<const char*>encoded, len(encoded))
        out.one_byte = False
    return 0


cdef str arg_text(const string& data, cbool one_byte):
    cdef int byteorder = -1  # little-endian, as V8 writes it
    if one_byte:
        return PyUnicode_DecodeLatin1(data.data(), data.size(), NULL)
    return PyUnicode_DecodeUTF16(data.data(), data.size(), "surrogatepass", &byteorder)


cdef str utf8_text(const string& data):
    return data.decode("utf-8", "replace")


cdef int py_to_val(object obj, Val* out, Isolate isolate, int depth) except -1:
    """Copy a Python value into `out` (DESIGN.md's copy table), or raise TransferError."""
    cdef double d
    cdef StrArg s
    cdef Py_ssize_t i
    cdef Val* item
    cdef HostFunction* fn
    cdef long long small
    cdef int overflow = 0
    if depth > _MAX_DEPTH or (depth > 16 and StackRemaining() < _STACK_RESERVE):
        raise TransferError("A non-transferable value was passed: it is nested too deeply (or is cyclic)")
    if obj is undefined:
        out.kind = ValKind.kUndefined
    elif obj is None:
        out.kind = ValKind.kNull
    elif obj is True or obj is False:
        out.kind = ValKind.kBool
        out.boolean = obj is True
    elif type(obj) is float:
        out.kind = ValKind.kNumber
        out.number = obj
    elif isinstance(obj, int):
        small = PyLong_AsLongLongAndOverflow(obj, &overflow)
        if overflow == 0 and -9007199254740992 <= small <= 9007199254740992:
            out.kind = ValKind.kNumber
            out.number = <double>small
        else:
            out.kind = ValKind.kBigInt
            out.boolean = obj < 0
            magnitude = -obj if obj < 0 else obj
            raw = magnitude.to_bytes(((magnitude.bit_length() + 63) // 64) * 8, "little")
            out.data.assign(<const char*>raw, len(raw))
    elif isinstance(obj, str):
        str_to_arg(obj, &s)
        out.kind = ValKind.kString
        out.data.swap(s.data)
        out.one_byte = s.one_byte
    elif isinstance(obj, float):
        out.kind = ValKind.kNumber
        out.number = obj
    elif type(obj) is bytes:
        # Immutable: borrowed, copied once straight into the isolate's ArrayBuffer.
        out.kind = ValKind.kBytes
        Py_INCREF(obj)
        out.host.reset(new HostFunction(<void*>obj))
        out.view = PyBytes_AS_STRING(obj)
        out.view_size = PyBytes_GET_SIZE(obj)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        raw = bytes(obj)  # a snapshot now: the caller may change a bytearray afterwards
        out.kind = ValKind.kBytes
        out.data.assign(<const char*>raw, len(raw))
    elif isinstance(obj, (list, tuple)):
        items = tuple(obj)  # code run while copying (a __eq__, a tzinfo) must not resize it
        out.kind = ValKind.kArray
        out.items.resize(len(items))
        for i in range(len(items)):
            py_to_val(items[i], &out.items[i], isolate, depth + 1)
    elif isinstance(obj, dict):
        pairs = tuple(obj.items())
        out.kind = ValKind.kObject
        out.items.resize(len(pairs))
        out.keys.resize(len(pairs))
        i = 0
        for key, value in pairs:
            if not isinstance(key, str):
                raise TransferError(
                    f"A non-transferable value was passed: dict keys must be str, not {type(key).__name__}"
                )
            py_to_val(key, &out.keys[i], isolate, depth + 1)
            py_to_val(value, &out.items[i], isolate, depth + 1)
            i += 1
    elif isinstance(obj, datetime.datetime):
        if obj.tzinfo is None or obj.utcoffset() is None:
            raise TransferError(
                "A non-transferable value was passed: a naive datetime is ambiguous; "
                "give it a tzinfo (e.g. datetime.timezone.utc)"
            )
        out.kind = ValKind.kDate
        out.number = (obj - _EPOCH) // datetime.timedelta(microseconds=1) / 1000.0
    elif isinstance(obj, Reference):
        (<Reference>obj)._to_val(out, isolate)
    elif isinstance(obj, _DerefInto):
        (<_DerefInto>obj)._to_val(out, isolate)
    elif isinstance(obj, _CopyInto):  # ExternalCopy
        (<_CopyInto>obj)._take(out)
    elif isinstance(obj, ExternalCopy):
        # The copy itself: JavaScript gets an object with copy(), copyInto() and release().
        out.kind = ValKind.kExternalCopyObject
        out.copy = (<ExternalCopy>obj)._checked()
    elif callable(obj):
        out.kind = ValKind.kCallback
        Py_INCREF(obj)
        out.host.reset(new HostFunction(<void*>obj))
        if isinstance(obj, Callback):
            out.host.get().flags = (<Callback>obj)._flags()
            obj = (<Callback>obj).fn
        name = getattr(obj, "__name__", "")
        if isinstance(name, str):
            out.host.get().name = name.encode("utf-8", "replace")
    else:
        raise TransferError(f"A non-transferable value was passed: {type(obj).__name__}")
    return 0


cdef object number_to_py(double d):
    # JavaScript has one number type: integral values within 2**53 become int, the rest float.
    if isfinite(d) and floor(d) == d and -_MAX_SAFE <= d <= _MAX_SAFE and not (d == 0 and signbit(d)):
        return int(d)
    return d


cdef object val_to_py(const Val& v, Isolate isolate):
    cdef ValKind kind = v.kind
    cdef size_t i
    cdef Reference ref
    if kind == ValKind.kNumber:
        return number_to_py(v.number)
    if kind == ValKind.kString:
        return arg_text(v.data, v.one_byte)
    if kind == ValKind.kUndefined or kind == ValKind.kUnsupported:
        return undefined
    if kind == ValKind.kNull:
        return None
    if kind == ValKind.kBool:
        return v.boolean
    if kind == ValKind.kBigInt:
        magnitude = int.from_bytes(PyBytes_FromStringAndSize(v.data.data(), v.data.size()), "little")
        return -magnitude if v.boolean else magnitude
    if kind == ValKind.kBytes:
        return PyBytes_FromStringAndSize(v.data.data(), v.data.size())
    if kind == ValKind.kTypedArray:
        raw = bytearray(PyBytes_FromStringAndSize(v.data.data(), v.data.size()))
        return memoryview(raw).cast(v.text.decode("ascii"))
    if kind == ValKind.kArray:
        return array_to_py(v, isolate)
    if kind == ValKind.kObject:
        return object_to_py(v, isolate)
    if kind == ValKind.kDate:
        if not isfinite(v.number):
            return undefined
        return _EPOCH + datetime.timedelta(milliseconds=v.number)
    if kind == ValKind.kError:
        return make_js_error(v)
    if kind == ValKind.kHostReference:
        return <object>v.host.get().fn
    if kind == ValKind.kExternalCopy:  # ExternalCopy
        return ExternalCopy._wrap(v.copy)
    if kind == ValKind.kReference:
        if isolate is None:
            raise TransferError("A Reference to a JavaScript value cannot cross here; pass a copy")
        ref = Reference.__new__(Reference)
        ref._bind_ref(isolate, v.handle, utf8_text(v.text))
        return ref
    return undefined


cdef list array_to_py(const Val& v, Isolate isolate):
    cdef Py_ssize_t i, n = v.items.size()
    cdef list out = PyList_New(n)
    cdef object item
    for i in range(n):
        item = val_to_py(v.items[i], isolate)
        Py_INCREF(item)  # PyList_SET_ITEM steals it
        PyList_SET_ITEM(out, i, item)
    return out


cdef dict object_to_py(const Val& v, Isolate isolate):
    cdef size_t i
    cdef dict out = {}
    cdef const Val* key
    for i in range(v.items.size()):
        key = &v.keys[i]
        # Keys are plain strings: decoded directly (and interned, as Python does for names).
        name = arg_text(key.data, key.one_byte) if key.kind == ValKind.kString else val_to_py(key[0], isolate)
        out[name] = val_to_py(v.items[i], isolate)
    return out


cdef object result_value(const Val& v, Isolate isolate):
    """A call's result: a big copy is built with Python's cyclic GC paused (it would otherwise
    run many times over the new containers, none of which can be garbage yet)."""
    cdef int was_enabled
    if (v.kind == ValKind.kArray or v.kind == ValKind.kObject) and v.items.size() >= 256:
        was_enabled = PyGC_Disable()
        try:
            return val_to_py(v, isolate)
        finally:
            if was_enabled:
                PyGC_Enable()
    return val_to_py(v, isolate)


cdef object make_js_error(const Val& v):
    error = JSError(utf8_text(v.data), utf8_text(v.text), utf8_text(v.stack))
    if v.handle != 0:
        # Made from a Python exception raised in a callback: chain the original.
        error.__cause__ = _host_errors.pop(v.handle, None)
    return error
