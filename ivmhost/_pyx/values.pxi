# Copying values between Python objects and the engine's Val trees (DESIGN.md, "Values crossing").

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from cpython.dict cimport PyDict_Next
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.long cimport PyLong_FromLongLong
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.unicode cimport PyUnicode_DecodeLatin1, PyUnicode_DecodeUTF8, PyUnicode_DecodeUTF16
from libc.math cimport floor, isfinite, signbit
from libc.string cimport memcmp, memcpy


cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object obj, int* overflow) except? -1
    int PyGC_Disable()
    int PyGC_Enable()
    int PyUnicode_KIND(object s)
    void* PyUnicode_DATA(object s)
    Py_ssize_t PyUnicode_GET_LENGTH(object s)


cdef double _MAX_SAFE = 9007199254740992.0  # 2**53
cdef long long _MAX_SAFE_INT = 9007199254740992
cdef int _MAX_DEPTH = 1000
cdef size_t _STACK_RESERVE = 64 * 1024
cdef object _UNDEFINED = undefined  # a C global: no module dict lookup on the hot paths
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
    # Numbers and null first, without the locals of the general case (every callback's result).
    cdef long long small
    cdef int overflow = 0
    if type(obj) is float:
        out.kind = ValKind.kNumber
        out.number = PyFloat_AS_DOUBLE(obj)
        return 0
    if type(obj) is int:
        small = PyLong_AsLongLongAndOverflow(obj, &overflow)
        if overflow == 0 and -_MAX_SAFE_INT <= small <= _MAX_SAFE_INT:
            out.kind = ValKind.kNumber
            out.number = <double>small
            return 0
    elif obj is None:
        out.kind = ValKind.kNull
        return 0
    return _py_to_val_any(obj, out, isolate, depth)


cdef int _py_to_val_any(object obj, Val* out, Isolate isolate, int depth) except -1:
    cdef double d
    cdef StrArg s
    cdef Py_ssize_t i
    cdef Val* item
    cdef HostFunction* fn
    cdef long long small
    cdef int overflow = 0
    if depth > _MAX_DEPTH or (depth > 16 and StackRemaining() < _STACK_RESERVE):
        raise TransferError("A non-transferable value was passed: it is nested too deeply (or is cyclic)")
    if obj is _UNDEFINED:
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
        if overflow == 0 and -_MAX_SAFE_INT <= small <= _MAX_SAFE_INT:
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
    elif depth == 0 and (type(obj) is list or type(obj) is tuple or type(obj) is dict) and len(obj) >= 4 \
            and wire_plain(obj, out):
        pass  # plain data: V8's deserializer builds it
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


# --- Plain data into the isolate: V8's ValueSerializer format (ValKind.kSerialized) -------------
# Written here and read by V8's ValueDeserializer, which builds objects with V8's own fast paths.
# Only exact builtin types are written, so no Python code runs while the data is read (a dict
# cannot change under us); anything else makes the writer give up and the Val tree is used.

cdef struct WireOut:
    string* s      # the Val's data; bytes [0, used) are written, the rest is room
    char* base
    size_t used
    size_t cap


cdef void wire_grow(WireOut* w, size_t n) noexcept:
    cdef size_t want = max(2 * w.cap, w.used + n + 256)
    w.s.resize(want)
    w.base = &w.s[0][0]
    w.cap = want


# Room for n more bytes (a tag and a varint need at most 11). Written in place: a string append per
# tag cost as much as everything else the writer does.
cdef inline char* wire_room(WireOut* w, size_t n) noexcept:
    if w.cap - w.used < n:
        wire_grow(w, n)
    return w.base + w.used


cdef inline size_t wire_varint_at(char* p, uint64_t n) noexcept:
    cdef size_t i = 0
    while n >= 0x80:
        p[i] = <char>((n & 0x7f) | 0x80)
        n >>= 7
        i += 1
    p[i] = <char>n
    return i + 1


cdef inline void wire_tag_varint(WireOut* w, char tag, uint64_t n) noexcept:
    cdef char* p = wire_room(w, 11)
    p[0] = tag
    w.used += 1 + wire_varint_at(p + 1, n)


cdef inline void wire_tag(WireOut* w, char tag) noexcept:
    wire_room(w, 1)[0] = tag
    w.used += 1


cdef inline void wire_bytes(WireOut* w, char tag, const char* data, size_t size) noexcept:
    wire_tag_varint(w, tag, size)
    memcpy(wire_room(w, size), data, size)
    w.used += size


cdef inline void wire_double(WireOut* w, double d) noexcept:
    cdef char* p = wire_room(w, 9)
    p[0] = b'N'
    memcpy(p + 1, &d, 8)
    w.used += 9


cdef inline void wire_str(WireOut* w, object s) noexcept:
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef int kind = PyUnicode_KIND(s)
    if kind == 1:
        wire_bytes(w, b'"', <const char*>PyUnicode_DATA(s), n)
    elif kind == 2:
        wire_bytes(w, b'c', <const char*>PyUnicode_DATA(s), n * 2)
    else:
        encoded = (<str>s).encode("utf-16-le", "surrogatepass")
        wire_bytes(w, b'c', PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded))


# A list of primitives (text in Latin-1, numbers, booleans, None, undefined) goes as a host object
# that PlainReader (external_copy.cc) makes into a packed array: V8's deserializer makes every array
# it reads holey, and copying a holey array back out costs V8's serializer a key lookup per element
# (a record's list of tags, returned as it came in, cost more than the whole record).
#   '\\' | u32 size | size bytes: u32 count, then per item 's' u32 n + n bytes | 'i' i32 | 'd' f64
#                                 | 'T' | 'F' | '0' (null) | '_' (undefined)
# Anything else in the list and nothing is written (False): the caller writes V8's dense array.
cdef bint wire_packed_list(object seq, WireOut* w) except -1:
    cdef size_t start = w.used
    cdef Py_ssize_t n = len(seq), length
    cdef uint32_t count = <uint32_t>n, size
    cdef long long small
    cdef int overflow = 0
    cdef int32_t i32
    cdef double d
    cdef char* p
    if n > 0xFFFFFF:
        return False
    p = wire_room(w, 9)
    p[0] = b'\\'
    memcpy(p + 5, &count, 4)
    w.used += 9
    for item in seq:
        t = type(item)
        if t is str:
            if PyUnicode_KIND(item) != 1:
                w.used = start
                return False
            length = PyUnicode_GET_LENGTH(item)
            size = <uint32_t>length
            p = wire_room(w, 5 + <size_t>length)
            p[0] = b's'
            memcpy(p + 1, &size, 4)
            memcpy(p + 5, PyUnicode_DATA(item), length)
            w.used += 5 + length
        elif t is int:
            small = PyLong_AsLongLongAndOverflow(item, &overflow)
            if overflow == 0 and -2147483648 <= small <= 2147483647:
                i32 = <int32_t>small
                p = wire_room(w, 5)
                p[0] = b'i'
                memcpy(p + 1, &i32, 4)
                w.used += 5
            elif overflow == 0 and -9007199254740992 <= small <= 9007199254740992:
                d = <double>small
                p = wire_room(w, 9)
                p[0] = b'd'
                memcpy(p + 1, &d, 8)
                w.used += 9
            else:
                w.used = start
                return False
        elif t is float:
            d = PyFloat_AS_DOUBLE(item)
            p = wire_room(w, 9)
            p[0] = b'd'
            memcpy(p + 1, &d, 8)
            w.used += 9
        elif item is None:
            wire_tag(w, b'0')
        elif item is True:
            wire_tag(w, b'T')
        elif item is False:
            wire_tag(w, b'F')
        elif item is _UNDEFINED:
            wire_tag(w, b'_')
        else:
            w.used = start
            return False
    size = <uint32_t>(w.used - start - 5)
    memcpy(w.base + start + 1, &size, 4)
    return True


cdef bint wire_value(object obj, WireOut* w, int depth) except -1:
    """Appends `obj` as plain data in V8's format; False when it is not (the caller falls back)."""
    cdef Py_ssize_t n, pos
    cdef long long small
    cdef int overflow = 0
    cdef int32_t i32
    cdef PyObject* key
    cdef PyObject* value
    cdef object t = type(obj)
    if depth > _MAX_DEPTH or (depth > 16 and StackRemaining() < _STACK_RESERVE):
        return False
    if t is str:
        wire_str(w, obj)
    elif t is int:
        small = PyLong_AsLongLongAndOverflow(obj, &overflow)
        if overflow == 0 and -2147483648 <= small <= 2147483647:
            i32 = <int32_t>small
            wire_tag_varint(w, b'I', (<uint32_t>i32 << 1) ^ <uint32_t>(i32 >> 31))  # zigzag
        elif overflow == 0 and -9007199254740992 <= small <= 9007199254740992:
            wire_double(w, <double>small)
        else:
            return False  # a BigInt: the Val tree knows how
    elif t is float:
        wire_double(w, obj)
    elif obj is None:
        wire_tag(w, b'0')
    elif obj is True:
        wire_tag(w, b'T')
    elif obj is False:
        wire_tag(w, b'F')
    elif obj is _UNDEFINED:
        wire_tag(w, b'_')
    elif t is dict:
        wire_tag(w, b'o')
        pos = 0
        # Borrowed references: only exact builtin types are visited, so no Python code runs that
        # could change the dict while it is walked.
        while PyDict_Next(obj, &pos, &key, &value):
            if type(<object>key) is not str:
                return False
            wire_str(w, <object>key)
            if not wire_value(<object>value, w, depth + 1):
                return False
        wire_tag_varint(w, b'{', len(<dict>obj))
    elif t is list or t is tuple:
        if wire_packed_list(obj, w):
            return True
        n = len(obj)
        wire_tag_varint(w, b'A', n)
        for item in obj:
            if not wire_value(item, w, depth + 1):
                return False
        wire_tag_varint(w, b'$', 0)
        w.used += wire_varint_at(wire_room(w, 10), n)
    else:
        return False
    return True


cdef bint wire_plain(object obj, Val* out) except -1:
    cdef WireOut w
    w.s = &out.data
    w.used = 0
    w.cap = 0
    wire_grow(&w, 64 * len(obj))
    w.base[0] = <char>0xFF
    w.base[1] = 13  # the format version ExternalCopy's writer uses (external_copy.pxi)
    w.used = 2
    if wire_value(obj, &w, 0):
        out.data.resize(w.used)
        out.kind = ValKind.kSerialized
        return True
    out.data.clear()
    return False


# --- Arrays and plain objects out of the isolate: the flat buffer (ValKind.kFlat, engine.h) ------

cdef struct FlatReader:
    const char* p


cdef inline uint32_t flat_u32(FlatReader* r) noexcept:
    cdef uint32_t n
    memcpy(&n, r.p, 4)
    r.p += 4
    return n


cdef str flat_string(FlatReader* r, char tag):
    cdef uint32_t n = flat_u32(r)
    cdef const char* at = r.p
    cdef int byteorder = -1
    if tag == b's':
        r.p += n
        return PyUnicode_DecodeLatin1(at, n, NULL)
    r.p += 2 * <size_t>n
    return PyUnicode_DecodeUTF16(at, 2 * <size_t>n, "surrogatepass", &byteorder)


cdef object flat_value(FlatReader* r, const Val& v, Isolate isolate, list keys):
    cdef char tag = r.p[0]
    cdef int32_t i32
    cdef double d
    cdef uint32_t i, n
    cdef list items
    cdef dict obj
    cdef char key_tag
    r.p += 1
    if tag == b'i':
        memcpy(&i32, r.p, 4)
        r.p += 4
        return i32
    if tag == b's' or tag == b'w':
        return flat_string(r, tag)
    if tag == b'o':
        n = flat_u32(r)
        obj = {}
        for i in range(n):
            key_tag = r.p[0]
            r.p += 1
            if key_tag == b'K':
                key = keys[flat_u32(r)]
            else:
                key = flat_string(r, key_tag)
                if len(keys) < 64:
                    keys.append(key)
            obj[key] = flat_value(r, v, isolate, keys)
        return obj
    if tag == b'a':
        n = flat_u32(r)
        items = PyList_New(n)
        for i in range(n):
            item = flat_value(r, v, isolate, keys)
            Py_INCREF(item)  # PyList_SET_ITEM steals it
            PyList_SET_ITEM(items, i, item)
        return items
    if tag == b'd':
        memcpy(&d, r.p, 8)
        r.p += 8
        return number_to_py(d)
    if tag == b'u':
        return _UNDEFINED
    if tag == b'n':
        return None
    if tag == b't':
        return True
    if tag == b'f':
        return False
    if tag == b'v':
        return val_to_py(v.items[flat_u32(r)], isolate)
    raise AssertionError(f"ivmhost internal error: unknown tag {tag!r} in a copied value")


cdef extern from "Python.h":
    int PyGC_Enable()
    int PyGC_Disable()


cdef object flat_to_py(const Val& v, Isolate isolate):
    cdef FlatReader r
    cdef int collecting
    r.p = v.data.data()
    if v.data.size() < 65536:
        return flat_value(&r, v, isolate, [])
    # A big value makes thousands of containers, none of them garbage: without this, the cyclic
    # GC would run every 700 of them and walk the older generations again and again (a quarter of
    # the time of a 10k-record copy). No code but ours runs meanwhile, so no one else's garbage
    # waits; the collector counts these objects and sees them at its next run.
    collecting = PyGC_Disable()
    try:
        return flat_value(&r, v, isolate, [])
    finally:
        if collecting:
            PyGC_Enable()


cdef object number_to_py(double d):
    # JavaScript has one number type: integral values within 2**53 become int, the rest float.
    cdef long long whole
    if -_MAX_SAFE <= d <= _MAX_SAFE:  # (false for NaN)
        whole = <long long>d
        if <double>whole == d and not (whole == 0 and signbit(d)):
            return PyLong_FromLongLong(whole)
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
        return _UNDEFINED
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
    if kind == ValKind.kFlat:
        return flat_to_py(v, isolate)
    if kind == ValKind.kArray:
        return array_to_py(v, isolate)
    if kind == ValKind.kObject:
        return object_to_py(v, isolate)
    if kind == ValKind.kDate:
        if not isfinite(v.number):
            return _UNDEFINED
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
    return _UNDEFINED


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
    if ((v.kind == ValKind.kArray or v.kind == ValKind.kObject) and v.items.size() >= 256) or \
            (v.kind == ValKind.kFlat and v.data.size() >= 4096):
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
