# ExternalCopy: a structured clone held outside any heap (isolated-vm's ``ExternalCopy``).
#
# The clone is V8's serialization format (what ValueSerializer writes). Isolates read and write it
# with V8's own ValueSerializer/ValueDeserializer (_native/external_copy.cc); Python reads and
# writes it here, without a helper isolate. The writer emits format version 13, which every V8
# ivmhost builds against reads; the reader accepts what V8 10.2 to 11.x write (versions 13-15).

from libc.stdint cimport uint32_t
from libc.string cimport memcpy


cdef uint32_t _WIRE_VERSION = 13
cdef int _CLONE_MAX_DEPTH = 1000

# View sub-tags -> the struct format of the memoryview a typed array becomes (see values.pxi);
# None: bytes (Uint8Array, DataView).
_VIEW_FORMATS = {
    ord("B"): None, ord("?"): None, ord("b"): "b", ord("C"): "B", ord("w"): "h", ord("W"): "H",
    ord("d"): "i", ord("D"): "I", ord("f"): "f", ord("F"): "d", ord("q"): "q", ord("Q"): "Q",
    ord("h"): "e",
}
_TOP_LEVEL_NAMES = {
    ord("o"): "Object", ord("A"): "Array", ord("a"): "Array", ord("D"): "Date", ord("R"): "RegExp",
    ord(";"): "Map", ord("'"): "Set", ord("B"): "ArrayBuffer", ord("t"): "ArrayBuffer",
    ord("u"): "SharedArrayBuffer", ord("r"): "Error", ord('"'): "string", ord("c"): "string",
    ord("S"): "string", ord("I"): "number", ord("U"): "number", ord("N"): "number",
    ord("Z"): "bigint", ord("T"): "boolean", ord("F"): "boolean", ord("_"): "undefined",
    ord("0"): "null",
}
_ERROR_NAMES = {
    ord("E"): "EvalError", ord("R"): "RangeError", ord("F"): "ReferenceError",
    ord("S"): "SyntaxError", ord("T"): "TypeError", ord("U"): "URIError",
}


# -- Python -> clone ------------------------------------------------------------------------------

cdef class _CloneWriter:
    cdef string out
    cdef dict memo          # id(object) -> wire id; shared objects and cycles become back references
    cdef list keep          # keeps memoised objects alive while their ids are in use
    cdef dict transfer      # id(bytearray) -> transfer index
    cdef uint32_t next_id

    def __cinit__(self):
        self.memo = {}
        self.keep = []
        self.transfer = {}

    cdef inline void tag(self, char t):
        self.out.push_back(t)

    cdef void varint(self, uint64_t v):
        while v >= 0x80:
            self.out.push_back(<char>((v & 0x7F) | 0x80))
            v >>= 7
        self.out.push_back(<char>v)

    cdef void raw_double(self, double d):
        self.out.append(<const char*>&d, 8)

    cdef uint32_t new_id(self, object obj):
        cdef uint32_t wire_id = self.next_id
        self.next_id += 1
        self.memo[id(obj)] = wire_id
        self.keep.append(obj)
        return wire_id

    cdef int text(self, str s) except -1:
        cdef StrArg arg
        str_to_arg(s, &arg)
        if arg.one_byte:
            self.tag(b'"')
        else:
            # V8 aligns two-byte payloads; its reader does not need it, but stay byte-identical.
            if (self.out.size() + 1 + _varint_size(arg.data.size())) & 1:
                self.tag(b'\0')
            self.tag(b'c')
        self.varint(arg.data.size())
        self.out.append(arg.data)
        return 0

    cdef int value(self, object obj, int depth) except -1:
        cdef Py_ssize_t i, n
        cdef int64_t small
        if depth > _CLONE_MAX_DEPTH:
            raise TransferError("A non-transferable value was passed: it is nested too deeply")
        if obj is undefined:
            self.tag(b'_')
        elif obj is None:
            self.tag(b'0')
        elif obj is True:
            self.tag(b'T')
        elif obj is False:
            self.tag(b'F')
        elif isinstance(obj, int):
            if -2147483648 <= obj <= 2147483647:
                small = obj
                self.tag(b'I')
                self.varint(<uint64_t>((small << 1) ^ (small >> 63)) & 0xFFFFFFFF)
            elif -9007199254740992 <= obj <= 9007199254740992:
                self.tag(b'N')
                self.raw_double(<double>obj)
            else:
                magnitude = -obj if obj < 0 else obj
                raw = magnitude.to_bytes(((magnitude.bit_length() + 63) // 64) * 8, "little")
                self.tag(b'Z')
                self.varint((len(raw) << 1) | (1 if obj < 0 else 0))
                self.out.append(<const char*>raw, len(raw))
        elif isinstance(obj, float):
            self.tag(b'N')
            self.raw_double(obj)
        elif isinstance(obj, str):
            self.text(obj)
        elif id(obj) in self.memo:
            self.tag(b'^')
            self.varint(self.memo[id(obj)])
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            self.buffer(obj)
        elif isinstance(obj, (list, tuple)):
            self.new_id(obj)
            n = len(obj)
            self.tag(b'A')
            self.varint(n)
            for i in range(n):
                self.value(obj[i], depth + 1)
            self.tag(b'$')
            self.varint(0)
            self.varint(n)
        elif isinstance(obj, dict):
            self.new_id(obj)
            self.tag(b'o')
            n = 0
            for key, item in obj.items():
                if not isinstance(key, str):
                    raise TransferError(
                        f"A non-transferable value was passed: dict keys must be str, not {type(key).__name__}"
                    )
                self.text(key)
                self.value(item, depth + 1)
                n += 1
            self.tag(b'{')
            self.varint(n)
        elif isinstance(obj, (set, frozenset)):
            self.new_id(obj)
            self.tag(b"'")
            n = 0
            for item in obj:
                self.value(item, depth + 1)
                n += 1
            self.tag(b',')
            self.varint(n)
        elif isinstance(obj, datetime.datetime):
            if obj.tzinfo is None or obj.utcoffset() is None:
                raise TransferError(
                    "A non-transferable value was passed: a naive datetime is ambiguous; "
                    "give it a tzinfo (e.g. datetime.timezone.utc)"
                )
            self.new_id(obj)
            self.tag(b'D')
            self.raw_double((obj - _EPOCH) // datetime.timedelta(microseconds=1) / 1000.0)
        else:
            raise TransferError(f"A non-transferable value was passed: {type(obj).__name__}")
        return 0

    cdef int buffer(self, object obj) except -1:
        # An ArrayBuffer and a Uint8Array over all of it (DESIGN.md: bytes-likes are Uint8Arrays).
        self.new_id(obj)  # the view's id, which back references name, is the next one
        self.next_id += 1
        self.memo[id(obj)] = self.next_id - 1
        raw = bytes(obj) if not isinstance(obj, bytes) else obj
        if id(obj) in self.transfer:
            self.tag(b't')
            self.varint(self.transfer[id(obj)])
        else:
            self.tag(b'B')
            self.varint(len(raw))
            self.out.append(<const char*>raw, len(raw))
        self.tag(b'V')
        self.tag(b'B')
        self.varint(0)
        self.varint(len(raw))
        return 0


cdef inline int _varint_size(uint64_t v):
    cdef int n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


# -- clone -> Python ------------------------------------------------------------------------------

cdef class _CloneReader:
    cdef shared_ptr[CExternalCopy] copy   # keeps the blob alive while it is read
    cdef const unsigned char* p
    cdef size_t pos
    cdef size_t end
    cdef uint32_t version
    cdef uint32_t next_id
    cdef dict objects   # wire id -> Python object
    cdef dict buffers   # wire id -> bytes of an ArrayBuffer (views are made from them)
    cdef object last_buffer
    # Sparse arrays cost the host a slot per index however few are set: the copy gets a budget
    # in proportion to its size, so a tiny blob cannot make the host allocate gigabytes.
    cdef size_t sparse_budget
    cdef bint sparse_started

    cdef int start(self, shared_ptr[CExternalCopy] copy) except -1:
        cdef const string* blob = &ExternalCopyBlob(copy.get())
        self.copy = copy
        self.p = <const unsigned char*>blob.data()
        self.end = blob.size()
        self.objects = {}
        self.buffers = {}
        if self.end < 2 or self.p[0] != 0xFF:
            self.corrupt()
        self.pos = 1
        self.version = <uint32_t>self.varint()
        if self.version < 13:
            raise TransferError(f"The copy uses V8 serialization version {self.version}, which ivmhost does not read")
        return 0

    cdef int corrupt(self) except -1:
        raise TransferError("The copy is corrupt")

    cdef int byte(self) except -1:
        if self.pos >= self.end:
            self.corrupt()
        self.pos += 1
        return self.p[self.pos - 1]

    cdef int peek(self) except -1:
        # Padding and object-count checks are not values: skip them.
        while self.pos < self.end and self.p[self.pos] == 0:
            self.pos += 1
        if self.pos >= self.end:
            self.corrupt()
        return self.p[self.pos]

    cdef uint64_t varint(self) except? 0xFFFFFFFFFFFFFFFF:
        cdef uint64_t v = 0
        cdef int shift = 0
        cdef int b
        while True:
            b = self.byte()
            if shift < 64:
                v |= (<uint64_t>(b & 0x7F)) << shift
            shift += 7
            if not (b & 0x80):
                return v

    cdef const unsigned char* raw(self, size_t n) except NULL:
        if n > self.end - self.pos:
            self.corrupt()
        self.pos += n
        return self.p + self.pos - n

    cdef double f64(self) except? -1:
        cdef double d
        memcpy(&d, self.raw(8), 8)
        return d

    cdef uint32_t new_id(self):
        self.next_id += 1
        return self.next_id - 1

    cdef object read(self, int depth):
        cdef int t
        cdef object value
        if depth > _CLONE_MAX_DEPTH:
            raise TransferError("The copy is nested too deeply to be copied to Python")
        while True:
            t = self.peek()
            self.pos += 1
            if t == ord("?"):  # kVerifyObjectCount
                self.varint()
                continue
            break
        self.last_buffer = None
        value = self.read_tagged(t, depth)
        if self.last_buffer is not None and self.pos < self.end and self.p[self.pos] == ord("V"):
            self.pos += 1
            value = self.read_view(self.last_buffer)
        self.last_buffer = None
        return value

    cdef str string_payload(self, int t):
        cdef size_t n = <size_t>self.varint()
        cdef const unsigned char* data = self.raw(n)
        cdef int byteorder = -1
        if t == ord('"'):
            return PyUnicode_DecodeLatin1(<const char*>data, n, NULL)
        if t == ord("c"):
            if n & 1:
                self.corrupt()
            return PyUnicode_DecodeUTF16(<const char*>data, n, "surrogatepass", &byteorder)
        return (<const char*>data)[:n].decode("utf-8", "surrogatepass")

    cdef object number(self, int t):
        cdef uint64_t u
        if t == ord("I"):
            u = self.varint() & 0xFFFFFFFF
            return <int64_t>(u >> 1) ^ -(<int64_t>(u & 1))
        if t == ord("U"):
            return self.varint() & 0xFFFFFFFF
        return number_to_py(self.f64())

    cdef object bigint(self):
        cdef uint64_t bitfield = self.varint()
        cdef size_t n = <size_t>(bitfield >> 1)
        cdef const unsigned char* data = self.raw(n)
        magnitude = int.from_bytes((<const char*>data)[:n], "little")
        return -magnitude if bitfield & 1 else magnitude

    cdef object read_tagged(self, int t, int depth):
        cdef uint32_t wire_id
        cdef size_t n, i
        cdef const char* data
        cdef size_t length
        if t == ord("_"):
            return undefined
        if t == ord("0"):
            return None
        if t == ord("T"):
            return True
        if t == ord("F"):
            return False
        if t == ord("I") or t == ord("U") or t == ord("N"):
            return self.number(t)
        if t == ord("Z"):
            return self.bigint()
        if t == ord('"') or t == ord("c") or t == ord("S"):
            return self.string_payload(t)
        if t == ord("^"):
            wire_id = <uint32_t>self.varint()
            if wire_id not in self.objects:
                self.corrupt()
            if wire_id in self.buffers:
                self.last_buffer = self.buffers[wire_id]
            return self.objects[wire_id]
        if t == ord("o"):
            return self.plain_object(depth)
        if t == ord("A"):
            return self.dense_array(depth)
        if t == ord("a"):
            return self.sparse_array(depth)
        if t == ord("D"):
            wire_id = self.new_id()
            value = _date_to_py(self.f64())
            self.objects[wire_id] = value
            return value
        if t == ord(";"):
            return self.read_map(depth)
        if t == ord("'"):
            return self.read_set(depth)
        if t == ord("B") or t == ord("~"):
            wire_id = self.new_id()
            n = <size_t>self.varint()
            if t == ord("~"):
                self.varint()  # resizable buffers (V8 11): the maximum length
            value = (<const char*>self.raw(n))[:n]
            return self.add_buffer(wire_id, value)
        if t == ord("t") or t == ord("u"):
            wire_id = self.new_id()
            i = <size_t>self.varint()
            if not ExternalCopyBuffer(self.copy.get(), t == ord("u"), i, &data, &length):
                raise ReleasedError("Copy has been released")
            value = PyBytes_FromStringAndSize(data, length) if length else b""
            return self.add_buffer(wire_id, value)
        if t == ord("y") or t == ord("x") or t == ord("n") or t == ord("z") or t == ord("s"):
            # Boolean, Number, BigInt and String objects: Python has only the primitive.
            wire_id = self.new_id()
            if t == ord("y"):
                value = True
            elif t == ord("x"):
                value = False
            elif t == ord("n"):
                value = number_to_py(self.f64())
            elif t == ord("z"):
                value = self.bigint()
            else:
                value = self.read(depth + 1)
                if not isinstance(value, str):
                    self.corrupt()
            self.objects[wire_id] = value
            return value
        if t == ord("r"):
            return self.read_error(depth)
        if t == ord("R"):
            raise TransferError(
                "A RegExp cannot be copied to Python; copy it into an isolate with copy_into()"
            )
        raise TransferError(
            f"The copy holds a value Python cannot represent (V8 serialization tag {chr(t)!r}); "
            "copy it into an isolate with copy_into()"
        )

    cdef object add_buffer(self, uint32_t wire_id, bytes value):
        self.objects[wire_id] = value
        self.buffers[wire_id] = value
        self.last_buffer = value
        return value

    cdef object read_view(self, bytes buffer):
        cdef int subtag = self.byte()
        cdef size_t offset = <size_t>self.varint()
        cdef size_t length = <size_t>self.varint()
        cdef uint32_t wire_id
        if self.version >= 14:
            self.varint()  # flags (length-tracking / resizable-backed views)
        wire_id = self.new_id()
        if subtag not in _VIEW_FORMATS or offset > <size_t>len(buffer) or length > <size_t>len(buffer) - offset:
            self.corrupt()
        fmt = _VIEW_FORMATS[subtag]
        data = buffer[offset:offset + length]
        if fmt is None:
            value = data
        else:
            try:
                value = memoryview(bytearray(data)).cast(fmt)
            except (TypeError, ValueError):
                self.corrupt()
        self.objects[wire_id] = value
        return value

    cdef str key(self, int depth):
        key = self.read(depth + 1)
        if isinstance(key, str):
            return key
        if isinstance(key, (int, float)) and not isinstance(key, bool):
            return str(key)
        self.corrupt()

    cdef object plain_object(self, int depth):
        cdef dict value = {}
        self.objects[self.new_id()] = value
        while self.peek() != ord("{"):
            key = self.key(depth)
            value[key] = self.read(depth + 1)
        self.pos += 1
        self.varint()
        return value

    cdef object dense_array(self, int depth):
        cdef list value = []
        cdef size_t length, i
        self.objects[self.new_id()] = value
        length = <size_t>self.varint()
        if length > self.end - self.pos:
            self.corrupt()
        for i in range(length):
            if self.peek() == ord("-"):  # a hole
                self.pos += 1
                value.append(undefined)
            else:
                value.append(self.read(depth + 1))
        # Named properties of an array are not part of a Python list (as in values.pxi).
        while self.peek() != ord("$"):
            self.key(depth)
            self.read(depth + 1)
        self.pos += 1
        self.varint()
        self.varint()
        return value

    cdef object sparse_array(self, int depth):
        cdef size_t length
        cdef list value
        length = <size_t>self.varint()
        if not self.sparse_started:
            self.sparse_started = True
            self.sparse_budget = max(<size_t>(1 << 20), 16 * self.end)
        if length > (1 << 24) or length > self.sparse_budget:
            raise TransferError(f"A sparse array of length {length} is too long to copy to Python")
        self.sparse_budget -= length
        value = [undefined] * <Py_ssize_t>length
        self.objects[self.new_id()] = value
        while self.peek() != ord("@"):
            key = self.read(depth + 1)
            item = self.read(depth + 1)
            if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < <Py_ssize_t>length:
                value[key] = item
        self.pos += 1
        self.varint()
        self.varint()
        return value

    cdef object read_map(self, int depth):
        cdef dict value = {}
        self.objects[self.new_id()] = value
        while self.peek() != ord(":"):
            key = self.read(depth + 1)
            item = self.read(depth + 1)
            try:
                value[key] = item
            except TypeError:
                raise TransferError(
                    f"A Map key of type {type(key).__name__} cannot be a Python dict key"
                ) from None
        self.pos += 1
        self.varint()
        return value

    cdef object read_set(self, int depth):
        cdef set value = set()
        self.objects[self.new_id()] = value
        while self.peek() != ord(","):
            item = self.read(depth + 1)
            try:
                value.add(item)
            except TypeError:
                raise TransferError(
                    f"A Set member of type {type(item).__name__} cannot be in a Python set"
                ) from None
        self.pos += 1
        self.varint()
        return value

    cdef object read_error(self, int depth):
        cdef uint32_t wire_id = self.new_id()
        cdef int t
        name = "Error"
        message = ""
        stack = ""
        while True:
            t = self.byte()
            if t == ord("."):
                break
            if t in _ERROR_NAMES:
                name = _ERROR_NAMES[t]
            elif t == ord("m"):
                message = self.read(depth + 1)
            elif t == ord("s"):
                stack = self.read(depth + 1)
            elif t == ord("c"):
                self.read(depth + 1)  # the cause
            else:
                self.corrupt()
        value = JSError(message if isinstance(message, str) else "", name,
                        stack if isinstance(stack, str) else "")
        self.objects[wire_id] = value
        return value


cdef object _date_to_py(double ms):
    if not isfinite(ms):
        return undefined
    try:
        return _EPOCH + datetime.timedelta(milliseconds=ms)
    except OverflowError:
        raise TransferError(f"The Date {ms} ms from the epoch is outside Python's datetime range") from None


# -- the API --------------------------------------------------------------------------------------

cdef class ExternalCopy:
    """A structured clone of a value, held outside any isolate (isolated-vm's ``ExternalCopy``).

    Made from a Python value, or from JavaScript (Date, RegExp, Map, Set, BigInt, typed arrays,
    ArrayBuffers and cycles survive). :meth:`copy` makes a Python value of it; :meth:`copy_into`
    makes a single-use argument that materialises the clone inside an isolate::

        ec = ivmhost.ExternalCopy({"a": [1, 2]})
        context.eval_closure_sync("return $0.a.length", [ec.copy_into()])  # -> 2

    ``transfer_list`` (bytearrays from Python) moves the buffers' contents into the copy and
    empties the sources; ``transfer_out=True`` does so for ``value`` itself.
    """

    cdef shared_ptr[CExternalCopy] _copy

    def __init__(self, value, *, transfer_list=None, transfer_out=False):
        cdef _CloneWriter writer = _CloneWriter()
        cdef vector[string] transferred
        cdef list moved = []
        items = list(transfer_list) if transfer_list is not None else []
        if transfer_out:
            items.append(value)
        for item in items:
            if not isinstance(item, bytearray):
                raise TypeError(
                    "transfer_list and transfer_out take bytearrays from Python (JavaScript "
                    f"ArrayBuffers are transferred from inside an isolate), not {type(item).__name__}"
                )
            if id(item) not in writer.transfer:
                writer.transfer[id(item)] = len(moved)
                moved.append(item)
        writer.out.push_back(<char>0xFF)
        writer.varint(_WIRE_VERSION)
        writer.value(value, 0)
        for item in moved:
            transferred.push_back(<string>bytes(item))
        self._copy = NewExternalCopy(move(writer.out), move(transferred))
        for item in moved:
            # Detach the source, as a transferred ArrayBuffer is: it is empty afterwards.
            try:
                item.clear()
            except BufferError:
                raise TransferError(
                    "A bytearray in the transfer list has live memoryviews and cannot be emptied"
                ) from None

    @staticmethod
    cdef ExternalCopy _wrap(shared_ptr[CExternalCopy] copy):
        cdef ExternalCopy self = ExternalCopy.__new__(ExternalCopy)
        self._copy = copy
        return self

    @staticmethod
    def total_external_size():
        """Bytes held by all live copies in this process."""
        return ExternalCopyTotalSize()

    cdef shared_ptr[CExternalCopy] _checked(self) except *:
        if not self._copy:
            raise ReleasedError("Copy has been released")
        return self._copy

    def copy(self, *, release=False, transfer_in=False):
        """A Python value made from the clone (DESIGN.md's copy table; Map -> dict, Set -> set).

        With ``release`` (or ``transfer_in``) the copy is released afterwards.
        """
        cdef _CloneReader reader = _CloneReader()
        reader.start(self._checked())
        value = reader.read(0)
        if release or transfer_in:
            self.release()
        return value

    def copy_into(self, *, release=False, transfer_in=False):
        """A single-use value that becomes the clone when passed into an isolate.

        ``transfer_in`` hands the copy's transferred ArrayBuffers to that isolate without copying
        them, and releases this copy; ``release`` releases it at once.
        """
        cdef _CopyInto result = _CopyInto.__new__(_CopyInto)
        result._copy = self._checked()
        result._transfer_in = bool(transfer_in)
        if release or transfer_in:
            self.release()
        return result

    def release(self):
        """Release the copy's memory; using it afterwards raises ReleasedError."""
        self._copy.reset()

    def __repr__(self):
        cdef const string* blob
        cdef size_t at
        if not self._copy:
            return "<ivmhost.ExternalCopy released>"
        blob = &ExternalCopyBlob(self._copy.get())
        at = 1
        while at < blob.size() and <unsigned char>blob[0][at] & 0x80:
            at += 1
        at += 1
        while at < blob.size() and blob[0][at] == 0:
            at += 1
        kind = _TOP_LEVEL_NAMES.get(<unsigned char>blob[0][at], "value") if at < blob.size() else "value"
        return f"<ivmhost.ExternalCopy of {kind}, {ExternalCopySize(self._copy.get())} bytes>"


cdef class _CopyInto:
    """The single-use result of :meth:`ExternalCopy.copy_into`: pass it into an isolate once."""

    cdef shared_ptr[CExternalCopy] _copy
    cdef bint _transfer_in
    cdef bint _used

    def __init__(self):
        raise TypeError("made by ExternalCopy.copy_into()")

    def __repr__(self):
        return f"<ivmhost ExternalCopy.copy_into() result{' (used)' if self._used else ''}>"

    cdef int _take(self, Val* out) except -1:
        if self._used:
            raise TransferError("The return value of `copyInto()` should only be used once")
        self._used = True
        out.kind = ValKind.kExternalCopy
        out.boolean = self._transfer_in
        out.copy = self._copy
        self._copy.reset()
        return 0


cdef object external_copy_of(Context context, object code, object transfer_list, object transfer_out):
    cdef StrArg source, transfer_source
    cdef uint64_t cid = context._checked_id()
    source_arg(context._isolate, code, &source)
    if transfer_list is not None:
        source_arg(context._isolate, transfer_list, &transfer_source)
    cdef shared_ptr[Op] op = MakeExternalCopyOf(cid, move(source), move(transfer_source), bool(transfer_out))
    run_sync(context._isolate, op)
    return val_to_py(op.get().result, context._isolate)
