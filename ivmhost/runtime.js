/*
 * The standard runtime of every plugin isolate: console, timers, queueMicrotask, structuredClone,
 * TextEncoder/TextDecoder, atob/btoa and performance, written in plain JavaScript over V8's builtins.
 *
 * The host evaluates this file as one function expression and calls it once, before any plugin code,
 * with a plain object of host callbacks:
 *
 *   log(level, text)       level is "log", "info", "warn", "error" or "debug"
 *   schedule(id, delayMs)  call fire(id) once, after delayMs
 *   cancel(id)             forget a scheduled id
 *   now()                  monotonic milliseconds since the plugin started
 *
 * It returns fire(id), which the host calls when a scheduled timer is due.
 *
 * Rules this file keeps:
 * - Nothing of `host` is reachable from the plugin: the callbacks live only in this closure, and are
 *   always called directly (never through .call/.apply/.bind, which a plugin could replace and so be
 *   handed the host function as `this`). Every function here is strict, so stack-trace CallSites and
 *   `fn.caller` do not reveal it either.
 * - Builtins this file relies on are captured at install time, and types are told apart by brand
 *   checks (builtin accessors that throw without the internal slot), not by prototypes or
 *   Symbol.toStringTag, which a plugin can fake.
 * - Globals are non-enumerable, writable and configurable, as in browsers and Node.
 */
(function installRuntime(host) {
  'use strict';

  const emitLog = host.log;
  const scheduleFire = host.schedule;
  const unscheduleFire = host.cancel;
  const monotonicNow = host.now;

  // ---------------------------------------------------------------------------------------------
  // Builtins, captured before any plugin code runs

  const ReflectApply = Reflect.apply;
  const uncurryThis = (fn) => (self, ...args) => ReflectApply(fn, self, args);
  const {
    defineProperty: ObjectDefineProperty,
    getOwnPropertyDescriptor: ObjectGetOwnPropertyDescriptor,
    getOwnPropertySymbols: ObjectGetOwnPropertySymbols,
    getPrototypeOf: ObjectGetPrototypeOf,
    keys: ObjectKeys,
  } = Object;
  const getterOf = (proto, key) => uncurryThis(ObjectGetOwnPropertyDescriptor(proto, key).get);

  const OriginalGlobal = globalThis;
  const OriginalObject = Object;
  const OriginalError = Error;
  const OriginalTypeError = TypeError;
  const OriginalRangeError = RangeError;
  const OriginalArrayBuffer = ArrayBuffer;
  const OriginalUint8Array = Uint8Array;
  const OriginalUint16Array = Uint16Array;
  const OriginalMap = Map;
  const OriginalSet = Set;
  const OriginalDate = Date;
  const OriginalRegExp = RegExp;
  const OriginalDataView = DataView;
  const ErrorCaptureStackTrace = Error.captureStackTrace;
  const ArrayIsArray = Array.isArray;
  const ArrayBufferIsView = ArrayBuffer.isView;
  const NumberIsNaN = Number.isNaN;
  const MathMin = Math.min;
  const MathTrunc = Math.trunc;
  const StringFromCharCode = String.fromCharCode;
  const JSONStringify = JSON.stringify;
  const GlobalNumber = Number;
  const GlobalParseInt = parseInt;
  const GlobalParseFloat = parseFloat;

  const ObjectPrototypeToString = uncurryThis(Object.prototype.toString);
  const ObjectPrototypeHasOwnProperty = uncurryThis(Object.prototype.hasOwnProperty);
  const ArrayPrototypeIncludes = uncurryThis(Array.prototype.includes);
  const ArrayPrototypeJoin = uncurryThis(Array.prototype.join);
  const ArrayPrototypePop = uncurryThis(Array.prototype.pop);
  const ArrayPrototypePush = uncurryThis(Array.prototype.push);
  const ArrayPrototypeSplice = uncurryThis(Array.prototype.splice);
  const StringPrototypeCharCodeAt = uncurryThis(String.prototype.charCodeAt);
  const StringPrototypeIncludes = uncurryThis(String.prototype.includes);
  const StringPrototypeSlice = uncurryThis(String.prototype.slice);
  const StringPrototypeSplit = uncurryThis(String.prototype.split);
  const StringPrototypeToLowerCase = uncurryThis(String.prototype.toLowerCase);
  const NumberPrototypeToString = uncurryThis(Number.prototype.toString);
  const NumberPrototypeToFixed = uncurryThis(Number.prototype.toFixed);
  const FunctionPrototypeToString = uncurryThis(Function.prototype.toString);
  const SymbolPrototypeToString = uncurryThis(Symbol.prototype.toString);
  const ErrorPrototypeToString = uncurryThis(Error.prototype.toString);
  const PromisePrototypeThen = uncurryThis(Promise.prototype.then);
  const DatePrototypeGetTime = uncurryThis(Date.prototype.getTime);
  const DatePrototypeToISOString = uncurryThis(Date.prototype.toISOString);
  const RegExpPrototype = RegExp.prototype;
  const RegExpPrototypeSource = getterOf(RegExp.prototype, 'source');
  const RegExpPrototypeFlags = getterOf(RegExp.prototype, 'flags');
  const RegExpPrototypeTest = uncurryThis(RegExp.prototype.test);
  const MapPrototypeDelete = uncurryThis(Map.prototype.delete);
  const MapPrototypeForEach = uncurryThis(Map.prototype.forEach);
  const MapPrototypeGet = uncurryThis(Map.prototype.get);
  const MapPrototypeSet = uncurryThis(Map.prototype.set);
  const MapPrototypeSize = getterOf(Map.prototype, 'size');
  const SetPrototypeAdd = uncurryThis(Set.prototype.add);
  const SetPrototypeForEach = uncurryThis(Set.prototype.forEach);
  const SetPrototypeSize = getterOf(Set.prototype, 'size');
  const WeakMapPrototypeHas = uncurryThis(WeakMap.prototype.has);
  const WeakSetPrototypeHas = uncurryThis(WeakSet.prototype.has);
  const ArrayBufferPrototypeByteLength = getterOf(ArrayBuffer.prototype, 'byteLength');
  const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype);
  const TypedArrayPrototypeBuffer = getterOf(TypedArrayPrototype, 'buffer');
  const TypedArrayPrototypeByteLength = getterOf(TypedArrayPrototype, 'byteLength');
  const TypedArrayPrototypeByteOffset = getterOf(TypedArrayPrototype, 'byteOffset');
  const TypedArrayPrototypeLength = getterOf(TypedArrayPrototype, 'length');
  const TypedArrayPrototypeSet = uncurryThis(TypedArrayPrototype.set);
  // Never throws: the typed array's name for a typed array, undefined for anything else.
  const TypedArrayPrototypeGetName = getterOf(TypedArrayPrototype, Symbol.toStringTag);
  const DataViewPrototypeBuffer = getterOf(DataView.prototype, 'buffer');
  const DataViewPrototypeByteLength = getterOf(DataView.prototype, 'byteLength');
  const DataViewPrototypeByteOffset = getterOf(DataView.prototype, 'byteOffset');
  const BooleanPrototypeValueOf = uncurryThis(Boolean.prototype.valueOf);
  const NumberPrototypeValueOf = uncurryThis(Number.prototype.valueOf);
  const StringPrototypeValueOf = uncurryThis(String.prototype.valueOf);
  const BigIntPrototypeValueOf = uncurryThis(BigInt.prototype.valueOf);
  const SymbolPrototypeValueOf = uncurryThis(Symbol.prototype.valueOf);

  const typedArrayConstructors = {
    __proto__: null,
    Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
    Float32Array, Float64Array, BigInt64Array, BigUint64Array,
  };
  const errorConstructors = {
    __proto__: null,
    Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError,
  };
  const AsyncFunctionPrototype = ObjectGetPrototypeOf(async function () {});
  const GeneratorFunctionPrototype = ObjectGetPrototypeOf(function* () {});
  const AsyncGeneratorFunctionPrototype = ObjectGetPrototypeOf(async function* () {});

  // ---------------------------------------------------------------------------------------------
  // Brand checks

  function hasSlot(check, value) {
    try {
      check(value);
      return true;
    } catch {
      return false; // the builtin refused the receiver: it lacks the internal slot
    }
  }
  const isDate = (value) => hasSlot(DatePrototypeGetTime, value);
  // RegExp.prototype is the one non-RegExp whose `source` getter does not throw.
  const isRegExp = (value) => value !== RegExpPrototype && hasSlot(RegExpPrototypeSource, value);
  const isMap = (value) => hasSlot(MapPrototypeSize, value);
  const isSet = (value) => hasSlot(SetPrototypeSize, value);
  const isWeakMap = (value) => hasSlot((v) => WeakMapPrototypeHas(v, {}), value);
  const isWeakSet = (value) => hasSlot((v) => WeakSetPrototypeHas(v, {}), value);
  const isArrayBuffer = (value) => hasSlot(ArrayBufferPrototypeByteLength, value);
  const isDataView = (value) => hasSlot(DataViewPrototypeByteLength, value);
  const isSharedArrayBuffer = typeof SharedArrayBuffer === 'function'
    ? ((byteLength) => (value) => hasSlot(byteLength, value))(
      getterOf(SharedArrayBuffer.prototype, 'byteLength'))
    : () => false;
  const isWeakRef = typeof WeakRef === 'function'
    ? ((deref) => (value) => hasSlot(deref, value))(uncurryThis(WeakRef.prototype.deref))
    : () => false;
  const isFinalizationRegistry = typeof FinalizationRegistry === 'function'
    ? ((unregister) => (value) => hasSlot((v) => unregister(v, {}), value))(
      uncurryThis(FinalizationRegistry.prototype.unregister))
    : () => false;
  // Errors have no side-effect-free brand check; Object.prototype.toString says "Error" only for
  // objects with [[ErrorData]], unless the object carries its own Symbol.toStringTag.
  const isError = (value) => ObjectPrototypeToString(value) === '[object Error]';

  // Objects whose state lives in internal slots that no JavaScript can read (or read without side
  // effects): structuredClone refuses them. A generator or iterator has no side-effect-free brand
  // check, so it is recognised by its prototype chain.
  const IteratorPrototype = ObjectGetPrototypeOf(ObjectGetPrototypeOf([][Symbol.iterator]()));
  const AsyncIteratorPrototype = ObjectGetPrototypeOf(
    ObjectGetPrototypeOf(ObjectGetPrototypeOf((async function* () {})())));
  const uncloneablePrototypes = [Promise.prototype, IteratorPrototype, AsyncIteratorPrototype];
  function isUncloneableObject(value) {
    if (isWeakMap(value) || isWeakSet(value) || isWeakRef(value) || isFinalizationRegistry(value) ||
        isSharedArrayBuffer(value) || hasSlot(SymbolPrototypeValueOf, value)) {
      return true;
    }
    for (let proto = ObjectGetPrototypeOf(value); proto !== null; proto = ObjectGetPrototypeOf(proto)) {
      if (ArrayPrototypeIncludes(uncloneablePrototypes, proto)) return true;
    }
    const tag = ObjectPrototypeToString(value);
    return tag === '[object Arguments]' || tag === '[object Module]' ||
      StringPrototypeSlice(tag, 0, 13) === '[object Intl.';
  }

  function domError(name, message, callee) {
    const error = new OriginalError(message);
    ObjectDefineProperty(error, 'name', { value: name, writable: true, enumerable: false, configurable: true });
    ErrorCaptureStackTrace(error, callee); // the stack's first line now reads "<name>: <message>"
    return error;
  }

  function receivedText(value) {
    if (value === null) return 'null';
    if (typeof value === 'function') return describeFunction(value);
    if (typeof value === 'object') return `an instance of ${constructorName(value) || 'Object'}`;
    return `type ${typeof value} (${inspect(value, 0, [])})`;
  }

  function requireFunction(callback) {
    if (typeof callback !== 'function') {
      throw new OriginalTypeError(`The "callback" argument must be of type function. Received ${receivedText(callback)}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Formatting (a small util.format / util.inspect)

  const INSPECT_DEPTH = 2; // nesting shown before "[Object]", as util.inspect's default
  const MAX_ITEMS = 100; // entries shown of an array, typed array, Map or Set
  const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
  const CONTROL_ESCAPES = { __proto__: null, 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r' };
  const builtinToStrings = [
    Object.prototype.toString, Array.prototype.toString, Error.prototype.toString,
    Date.prototype.toString, RegExp.prototype.toString, Function.prototype.toString,
    Number.prototype.toString, Boolean.prototype.toString, String.prototype.toString,
    BigInt.prototype.toString, Symbol.prototype.toString,
  ];

  const formatNumber = (number) => (number === 0 && 1 / number < 0 ? '-0' : `${number}`);

  function hex(code, width) {
    let digits = NumberPrototypeToString(code, 16);
    while (digits.length < width) digits = `0${digits}`;
    return digits;
  }

  function quote(string) {
    let q = 39; // '
    if (StringPrototypeIncludes(string, "'")) {
      if (!StringPrototypeIncludes(string, '"')) q = 34;
      else if (!StringPrototypeIncludes(string, '`') && !StringPrototypeIncludes(string, '${')) q = 96;
    }
    let out = '';
    let last = 0;
    for (let i = 0; i < string.length; i++) {
      const code = StringPrototypeCharCodeAt(string, i);
      let escaped;
      if (code === q || code === 92) {
        escaped = `\\${StringFromCharCode(code)}`;
      } else if (code < 0x20 || code === 0x7f) {
        escaped = CONTROL_ESCAPES[code] ?? `\\x${hex(code, 2)}`;
      } else if (code >= 0xd800 && code <= 0xdfff) {
        const next = StringPrototypeCharCodeAt(string, i + 1);
        if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          i++; // a well-formed pair
          continue;
        }
        escaped = `\\u${hex(code, 4)}`;
      } else {
        continue;
      }
      out += StringPrototypeSlice(string, last, i) + escaped;
      last = i + 1;
    }
    const mark = StringFromCharCode(q);
    return mark + out + StringPrototypeSlice(string, last) + mark;
  }

  // The name of the first constructor up the prototype chain; null for a null-prototype object.
  function constructorName(object) {
    let proto = ObjectGetPrototypeOf(object);
    if (proto === null) return null;
    for (; proto !== null; proto = ObjectGetPrototypeOf(proto)) {
      const descriptor = ObjectGetOwnPropertyDescriptor(proto, 'constructor');
      if (descriptor !== undefined && typeof descriptor.value === 'function') {
        const name = descriptor.value.name;
        if (typeof name === 'string' && name !== '') return name;
      }
    }
    return '';
  }

  function describeFunction(fn) {
    const name = typeof fn.name === 'string' ? fn.name : '';
    const source = FunctionPrototypeToString(fn);
    if (StringPrototypeSlice(source, 0, 5) === 'class' && !RegExpPrototypeTest(/^class[A-Za-z0-9_$]/, source)) {
      return name ? `[class ${name}]` : '[class (anonymous)]';
    }
    const proto = ObjectGetPrototypeOf(fn);
    let kind = 'Function';
    if (proto === AsyncFunctionPrototype) kind = 'AsyncFunction';
    else if (proto === GeneratorFunctionPrototype) kind = 'GeneratorFunction';
    else if (proto === AsyncGeneratorFunctionPrototype) kind = 'AsyncGeneratorFunction';
    return name ? `[${kind}: ${name}]` : `[${kind} (anonymous)]`;
  }

  function propertyKeyText(key) {
    if (typeof key === 'symbol') return `[${SymbolPrototypeToString(key)}]`;
    return RegExpPrototypeTest(IDENTIFIER, key) ? key : quote(key);
  }

  // An own property's value; accessors are named, not called.
  function propertyValueText(object, key, depth, seen) {
    const descriptor = ObjectGetOwnPropertyDescriptor(object, key);
    if (descriptor === undefined) return 'undefined';
    if ('value' in descriptor) return inspect(descriptor.value, depth - 1, seen);
    if (descriptor.get !== undefined) return descriptor.set !== undefined ? '[Getter/Setter]' : '[Getter]';
    return '[Setter]';
  }

  const propertyText = (object, key, depth, seen) =>
    `${propertyKeyText(key)}: ${propertyValueText(object, key, depth, seen)}`;

  function pushOwnProperties(object, keys, depth, seen, entries) {
    for (let i = 0; i < keys.length; i++) ArrayPrototypePush(entries, propertyText(object, keys[i], depth, seen));
    const symbols = ObjectGetOwnPropertySymbols(object);
    for (let i = 0; i < symbols.length; i++) {
      const descriptor = ObjectGetOwnPropertyDescriptor(object, symbols[i]);
      if (descriptor !== undefined && descriptor.enumerable) {
        ArrayPrototypePush(entries, propertyText(object, symbols[i], depth, seen));
      }
    }
  }

  const isArrayIndex = (key) => {
    const index = GlobalNumber(key);
    return index >= 0 && index < 4294967295 && `${index}` === key;
  };

  function arrayEntries(array, depth, seen, entries) {
    const length = array.length;
    const keys = ObjectKeys(array); // indices first, ascending, then the other keys
    const others = [];
    let next = 0; // the first index not yet shown
    let shown = 0;
    const holes = (count) => `<${count} empty item${count === 1 ? '' : 's'}>`;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (!isArrayIndex(key)) {
        ArrayPrototypePush(others, key);
        continue;
      }
      if (shown >= MAX_ITEMS) continue;
      const index = GlobalNumber(key);
      if (index > next) {
        ArrayPrototypePush(entries, holes(index - next));
        shown++;
        if (shown >= MAX_ITEMS) continue;
      }
      ArrayPrototypePush(entries, propertyValueText(array, key, depth, seen));
      shown++;
      next = index + 1;
    }
    if (next < length) {
      if (shown < MAX_ITEMS) {
        ArrayPrototypePush(entries, holes(length - next)); // only holes are left
      } else {
        ArrayPrototypePush(entries, `... ${length - next} more item${length - next === 1 ? '' : 's'}`);
      }
    }
    return others;
  }

  function describeObject(value, depth, seen) {
    const name = constructorName(value);
    const entries = [];
    let keys;
    let prefix = name === 'Object' || name === '' ? '' : name === null ? '[Object: null prototype] ' : `${name} `;
    let brackets = ['{', '}'];
    const typedArrayName = TypedArrayPrototypeGetName(value);
    if (ArrayIsArray(value)) {
      brackets = ['[', ']'];
      prefix = name === 'Array' ? '' : `${name === null ? '[Array: null prototype]' : name}(${value.length}) `;
      keys = arrayEntries(value, depth, seen, entries);
    } else if (typedArrayName !== undefined) {
      const length = TypedArrayPrototypeLength(value);
      brackets = ['[', ']'];
      prefix = `${typedArrayName}(${length}) `;
      const shown = MathMin(length, MAX_ITEMS);
      for (let i = 0; i < shown; i++) {
        const item = value[i];
        ArrayPrototypePush(entries, typeof item === 'bigint' ? `${item}n` : formatNumber(item));
      }
      if (length > shown) ArrayPrototypePush(entries, `... ${length - shown} more items`);
      keys = [];
    } else if (isMap(value) || isSet(value)) {
      const map = isMap(value);
      const size = map ? MapPrototypeSize(value) : SetPrototypeSize(value);
      prefix = `${name || (map ? 'Map' : 'Set')}(${size}) `;
      const add = (item, key) => {
        if (entries.length >= MAX_ITEMS) return;
        ArrayPrototypePush(entries, map
          ? `${inspect(key, depth - 1, seen)} => ${inspect(item, depth - 1, seen)}`
          : inspect(item, depth - 1, seen));
      };
      if (map) MapPrototypeForEach(value, add);
      else SetPrototypeForEach(value, add);
      if (size > MAX_ITEMS) ArrayPrototypePush(entries, `... ${size - MAX_ITEMS} more items`);
      keys = ObjectKeys(value);
    } else if (isArrayBuffer(value)) {
      ArrayPrototypePush(entries, `byteLength: ${ArrayBufferPrototypeByteLength(value)}`);
      keys = [];
    } else if (isDataView(value)) {
      ArrayPrototypePush(entries, `byteLength: ${DataViewPrototypeByteLength(value)}`,
        `byteOffset: ${DataViewPrototypeByteOffset(value)}`);
      keys = [];
    } else {
      if (isWeakMap(value) || isWeakSet(value)) ArrayPrototypePush(entries, '<items unknown>');
      keys = ObjectKeys(value);
    }
    pushOwnProperties(value, keys, depth, seen, entries);
    if (entries.length === 0) return `${prefix}${brackets[0]}${brackets[1]}`;
    return `${prefix}${brackets[0]} ${ArrayPrototypeJoin(entries, ', ')} ${brackets[1]}`;
  }

  function describeError(error, depth, seen) {
    const stack = error.stack;
    const text = typeof stack === 'string' && stack !== '' ? stack : `[${ErrorPrototypeToString(error)}]`;
    if (depth < 0) return text;
    const entries = [];
    pushOwnProperties(error, ObjectKeys(error), depth, seen, entries);
    return entries.length === 0 ? text : `${text} { ${ArrayPrototypeJoin(entries, ', ')} }`;
  }

  // Date, RegExp and wrapped primitives print the same at any depth; undefined for other objects.
  function describeLeaf(value) {
    if (isDate(value)) {
      return NumberIsNaN(DatePrototypeGetTime(value)) ? 'Invalid Date' : DatePrototypeToISOString(value);
    }
    if (isRegExp(value)) return `/${RegExpPrototypeSource(value)}/${RegExpPrototypeFlags(value)}`;
    if (hasSlot(StringPrototypeValueOf, value)) return `[String: ${quote(StringPrototypeValueOf(value))}]`;
    if (hasSlot(NumberPrototypeValueOf, value)) return `[Number: ${formatNumber(NumberPrototypeValueOf(value))}]`;
    if (hasSlot(BooleanPrototypeValueOf, value)) return `[Boolean: ${BooleanPrototypeValueOf(value)}]`;
    if (hasSlot(BigIntPrototypeValueOf, value)) return `[BigInt: ${BigIntPrototypeValueOf(value)}n]`;
    if (hasSlot(SymbolPrototypeValueOf, value)) {
      return `[Symbol: ${SymbolPrototypeToString(SymbolPrototypeValueOf(value))}]`;
    }
    return undefined;
  }

  function inspect(value, depth, seen) {
    switch (typeof value) {
      case 'string': return quote(value);
      case 'number': return formatNumber(value);
      case 'bigint': return `${value}n`;
      case 'boolean': return value ? 'true' : 'false';
      case 'undefined': return 'undefined';
      case 'symbol': return SymbolPrototypeToString(value);
      case 'function': return describeFunction(value);
    }
    if (value === null) return 'null';
    if (ArrayPrototypeIncludes(seen, value)) return '[Circular]';
    const leaf = describeLeaf(value);
    if (leaf !== undefined) return leaf;
    const error = isError(value);
    if (depth < 0 && !error) return `[${constructorName(value) || (ArrayIsArray(value) ? 'Array' : 'Object')}]`;
    ArrayPrototypePush(seen, value);
    try {
      return error ? describeError(value, depth, seen) : describeObject(value, depth, seen);
    } finally {
      ArrayPrototypePop(seen);
    }
  }

  // %s shows an object with its own toString through that toString, others through inspect.
  function hasBuiltinToString(object) {
    const toString = object.toString;
    return typeof toString !== 'function' || ArrayPrototypeIncludes(builtinToStrings, toString);
  }

  function formatSpecifier(code, arg) {
    switch (code) {
      case 115: // s
        if (typeof arg === 'number') return formatNumber(arg);
        if (typeof arg === 'bigint') return `${arg}n`;
        if (typeof arg === 'symbol') return SymbolPrototypeToString(arg);
        if (typeof arg !== 'object' || arg === null || !hasBuiltinToString(arg)) return `${arg}`;
        return inspect(arg, 0, []);
      case 100: // d
        if (typeof arg === 'bigint') return `${arg}n`;
        return typeof arg === 'symbol' ? 'NaN' : formatNumber(GlobalNumber(arg));
      case 105: // i
        if (typeof arg === 'bigint') return `${arg}n`;
        return typeof arg === 'symbol' ? 'NaN' : formatNumber(GlobalParseInt(arg));
      case 102: // f
        return typeof arg === 'symbol' ? 'NaN' : formatNumber(GlobalParseFloat(arg));
      case 106: // j
        try {
          return `${JSONStringify(arg)}`;
        } catch (error) {
          if (isError(error) && StringPrototypeIncludes(`${error.message}`, 'circular')) return '[Circular]';
          throw error;
        }
      case 111: // o
        return inspect(arg, 4, []);
      case 79: // O
        return inspect(arg, INSPECT_DEPTH, []);
      case 99: // c: CSS has no meaning here, the argument is consumed
        return '';
    }
    return undefined;
  }

  // util.format: printf-like specifiers in a first string argument, then the remaining arguments
  // separated by spaces, strings as they are and everything else inspected.
  function format(args) {
    let out = '';
    let next = 0; // the first argument not yet used
    const first = args[0];
    if (typeof first === 'string') {
      if (args.length === 1) return first;
      next = 1;
      let last = 0;
      for (let i = 0; i < first.length - 1; i++) {
        if (StringPrototypeCharCodeAt(first, i) !== 37) continue; // %
        const code = StringPrototypeCharCodeAt(first, i + 1);
        if (code === 37) {
          out += StringPrototypeSlice(first, last, i + 1);
          last = i + 2;
          i++;
          continue;
        }
        if (next >= args.length) continue;
        const text = formatSpecifier(code, args[next]);
        if (text === undefined) continue; // not a specifier: the text stays as written
        out += StringPrototypeSlice(first, last, i) + text;
        last = i + 2;
        next++;
        i++;
      }
      out += StringPrototypeSlice(first, last);
    }
    if (next >= args.length) return out;
    return next === 0 ? formatValues(args, 0) : `${out} ${formatValues(args, next)}`;
  }

  // values[from:] separated by spaces: strings as they are, everything else inspected.
  function formatValues(values, from) {
    let out = '';
    for (let i = from; i < values.length; i++) {
      const value = values[i];
      if (i > from) out += ' ';
      out += typeof value === 'string' ? value : inspect(value, INSPECT_DEPTH, []);
    }
    return out;
  }

  // How an uncaught exception of a timer or microtask is reported.
  function describeThrown(error) {
    try {
      const text = (error && error.stack) || `${error}`;
      return typeof text === 'string' ? text : `${text}`;
    } catch {
      // `${error}` threw (a null-prototype object, say): inspect it instead.
    }
    try {
      return inspect(error, INSPECT_DEPTH, []);
    } catch {
      return `a thrown ${typeof error} that could not be described`;
    }
  }

  function reportUncaught(error) {
    emitLog('error', `Uncaught ${describeThrown(error)}`);
  }

  // ---------------------------------------------------------------------------------------------
  // console

  let groupIndent = '';
  const counts = new OriginalMap();
  const timeStarts = new OriginalMap();

  function writeText(level, text) {
    if (groupIndent !== '') text = groupIndent + ArrayPrototypeJoin(StringPrototypeSplit(text, '\n'), `\n${groupIndent}`);
    emitLog(level, text);
  }

  const write = (level, args) => writeText(level, format(args));
  const labelText = (label) => (label === undefined ? 'default' : `${label}`);
  const elapsedText = (label) => {
    const ms = monotonicNow() - MapPrototypeGet(timeStarts, label);
    return `${label}: ${ms < 1000 ? `${NumberPrototypeToFixed(ms, 3)}ms` : `${NumberPrototypeToFixed(ms / 1000, 3)}s`}`;
  };

  const console = {
    log(...args) { write('log', args); },
    info(...args) { write('info', args); },
    warn(...args) { write('warn', args); },
    error(...args) { write('error', args); },
    debug(...args) { write('debug', args); },
    trace(...args) {
      const holder = { name: 'Trace', message: format(args) };
      ErrorCaptureStackTrace(holder, traceFunction); // frames from the caller of trace down
      const stack = holder.stack;
      writeText('debug', typeof stack === 'string' ? stack : `Trace: ${holder.message}`);
    },
    assert(condition, ...data) {
      if (condition) return;
      if (data.length === 0) data = ['Assertion failed'];
      else if (typeof data[0] === 'string') data[0] = `Assertion failed: ${data[0]}`;
      else ArrayPrototypeSplice(data, 0, 0, 'Assertion failed:');
      write('error', data);
    },
    dir(value) { writeText('log', inspect(value, INSPECT_DEPTH, [])); },
    count(label = undefined) {
      label = labelText(label);
      const count = (MapPrototypeGet(counts, label) ?? 0) + 1;
      MapPrototypeSet(counts, label, count);
      writeText('log', `${label}: ${count}`);
    },
    countReset(label = undefined) {
      label = labelText(label);
      if (!MapPrototypeDelete(counts, label)) writeText('warn', `Count for '${label}' does not exist`);
    },
    time(label = undefined) {
      label = labelText(label);
      if (MapPrototypeGet(timeStarts, label) !== undefined) {
        writeText('warn', `Label '${label}' already exists for console.time()`);
        return;
      }
      MapPrototypeSet(timeStarts, label, monotonicNow());
    },
    timeLog(label = undefined, ...data) {
      label = labelText(label);
      if (MapPrototypeGet(timeStarts, label) === undefined) {
        writeText('warn', `No such label '${label}' for console.timeLog()`);
        return;
      }
      writeText('log', data.length === 0 ? elapsedText(label) : `${elapsedText(label)} ${formatValues(data, 0)}`);
    },
    timeEnd(label = undefined) {
      label = labelText(label);
      if (MapPrototypeGet(timeStarts, label) === undefined) {
        writeText('warn', `No such label '${label}' for console.timeEnd()`);
        return;
      }
      writeText('log', elapsedText(label));
      MapPrototypeDelete(timeStarts, label);
    },
    group(...label) {
      if (label.length > 0) write('log', label);
      groupIndent += '  ';
    },
    groupCollapsed(...label) {
      if (label.length > 0) write('log', label);
      groupIndent += '  ';
    },
    groupEnd() { groupIndent = StringPrototypeSlice(groupIndent, 2); },
  };
  // DevTools: V8's own console reports to an attached inspector (and does nothing without one),
  // so every call goes there too.
  const inspectorConsole = OriginalGlobal.console;
  if (inspectorConsole !== undefined && inspectorConsole !== null) {
    for (const name of ObjectKeys(console)) {
      const own = console[name];
      const theirs = inspectorConsole[name];
      if (typeof theirs !== 'function') continue;
      console[name] = {
        [name](...args) {
          ReflectApply(theirs, inspectorConsole, args);
          return ReflectApply(own, console, args);
        },
      }[name];
    }
  }
  const traceFunction = console.trace;
  ObjectDefineProperty(console, Symbol.toStringTag, { value: 'console', configurable: true });

  // ---------------------------------------------------------------------------------------------
  // Timers

  const TIMEOUT_MAX = 2147483647; // the largest delay browsers and Node honour
  const timers = new OriginalMap(); // id -> { callback, args, delay, repeat }
  let lastTimerId = 0;

  // Delays are whole milliseconds; a negative, NaN or too large delay means "now", as in browsers.
  function timerDelay(delay) {
    const ms = MathTrunc(GlobalNumber(delay));
    return ms >= 0 && ms <= TIMEOUT_MAX ? ms : 0;
  }

  function addTimer(callback, delay, args, repeat) {
    requireFunction(callback);
    let ms = timerDelay(delay);
    if (repeat && ms < 1) ms = 1; // a 0 ms interval would keep the host busy; Node clamps to 1 ms too
    const id = ++lastTimerId;
    scheduleFire(id, ms);
    MapPrototypeSet(timers, id, { callback, args, delay: ms, repeat });
    return id;
  }

  function clearTimer(id) {
    if (typeof id === 'string') id = GlobalNumber(id);
    if (MapPrototypeDelete(timers, id)) unscheduleFire(id);
  }

  const {
    setTimeout, setInterval, clearTimeout, clearInterval, fire,
  } = {
    setTimeout(callback, delay = 0, ...args) { return addTimer(callback, delay, args, false); },
    setInterval(callback, delay = 0, ...args) { return addTimer(callback, delay, args, true); },
    clearTimeout(id = undefined) { clearTimer(id); },
    clearInterval(id = undefined) { clearTimer(id); },
    // Called by the host when a scheduled id is due. A stale id (cleared meanwhile) does nothing.
    fire(id) {
      const timer = MapPrototypeGet(timers, id);
      if (timer === undefined) return;
      if (!timer.repeat) MapPrototypeDelete(timers, id);
      try {
        ReflectApply(timer.callback, OriginalGlobal, timer.args);
      } catch (error) {
        reportUncaught(error);
      }
      // An interval cleared by its own callback is gone from the table (or replaced by nothing).
      if (timer.repeat && MapPrototypeGet(timers, id) === timer) scheduleFire(id, timer.delay);
    },
  };

  // ---------------------------------------------------------------------------------------------
  // queueMicrotask

  const resolvedPromise = Promise.resolve();
  // With no `constructor`, then() uses %Promise% itself, whatever a plugin does to Promise later.
  ObjectDefineProperty(resolvedPromise, 'constructor', { value: undefined });

  const { queueMicrotask } = {
    queueMicrotask(callback) {
      requireFunction(callback);
      PromisePrototypeThen(resolvedPromise, () => {
        try {
          callback();
        } catch (error) {
          reportUncaught(error);
        }
      });
    },
  };

  // ---------------------------------------------------------------------------------------------
  // structuredClone (the HTML structured serialize/deserialize pair, in one pass)

  const notCloneable = (value) => {
    let text;
    if (typeof value === 'function') text = describeFunction(value);
    else if (typeof value === 'symbol') text = SymbolPrototypeToString(value);
    else {
      // Generators, iterators and arguments have no constructor of their own; their tag says more.
      let name = constructorName(value);
      if (!name || name === 'Object') name = StringPrototypeSlice(ObjectPrototypeToString(value), 8, -1);
      text = `#<${name}>`;
    }
    return domError('DataCloneError', `${text} could not be cloned.`, structuredClone);
  };

  const defineData = (object, key, value) => ObjectDefineProperty(object, key, {
    value, writable: true, enumerable: true, configurable: true,
  });

  // Own enumerable string keys, read one by one (a getter may delete a later key, as the spec allows).
  function cloneProperties(source, target, memory) {
    const keys = ObjectKeys(source);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (!ObjectPrototypeHasOwnProperty(source, key)) continue;
      defineData(target, key, cloneValue(source[key], memory));
    }
  }

  function cloneArrayBuffer(buffer) {
    const copy = new OriginalArrayBuffer(ArrayBufferPrototypeByteLength(buffer));
    TypedArrayPrototypeSet(new OriginalUint8Array(copy), new OriginalUint8Array(buffer));
    return copy;
  }

  function cloneError(error) {
    let name = `${error.name}`;
    if (errorConstructors[name] === undefined) name = 'Error';
    const messageDescriptor = ObjectGetOwnPropertyDescriptor(error, 'message');
    const stack = error.stack;
    const copy = new errorConstructors[name]();
    if (messageDescriptor !== undefined && 'value' in messageDescriptor) {
      ObjectDefineProperty(copy, 'message', {
        value: `${messageDescriptor.value}`, writable: true, enumerable: false, configurable: true,
      });
    }
    if (typeof stack === 'string') {
      ObjectDefineProperty(copy, 'stack', { value: stack, writable: true, enumerable: false, configurable: true });
    } else {
      delete copy.stack;
    }
    return copy;
  }

  function cloneValue(value, memory) {
    const type = typeof value;
    if (type === 'symbol' || type === 'function') throw notCloneable(value);
    if (type !== 'object' || value === null) return value;
    const known = MapPrototypeGet(memory, value);
    if (known !== undefined) return known;

    let copy;
    const typedArrayName = TypedArrayPrototypeGetName(value);
    if (ArrayIsArray(value)) {
      copy = [];
      copy.length = value.length;
      MapPrototypeSet(memory, value, copy);
      cloneProperties(value, copy, memory);
    } else if (typedArrayName !== undefined) {
      // Views clone their whole buffer (through `memory`, so views sharing a buffer still share one).
      const buffer = cloneValue(TypedArrayPrototypeBuffer(value), memory);
      copy = new typedArrayConstructors[typedArrayName](
        buffer, TypedArrayPrototypeByteOffset(value), TypedArrayPrototypeLength(value));
    } else if (isDataView(value)) {
      const buffer = cloneValue(DataViewPrototypeBuffer(value), memory);
      copy = new OriginalDataView(buffer, DataViewPrototypeByteOffset(value), DataViewPrototypeByteLength(value));
    } else if (isArrayBuffer(value)) {
      copy = cloneArrayBuffer(value);
    } else if (isDate(value)) {
      copy = new OriginalDate(DatePrototypeGetTime(value));
    } else if (isRegExp(value)) {
      copy = new OriginalRegExp(RegExpPrototypeSource(value), RegExpPrototypeFlags(value));
    } else if (hasSlot(BooleanPrototypeValueOf, value)) {
      copy = OriginalObject(BooleanPrototypeValueOf(value));
    } else if (hasSlot(NumberPrototypeValueOf, value)) {
      copy = OriginalObject(NumberPrototypeValueOf(value));
    } else if (hasSlot(StringPrototypeValueOf, value)) {
      copy = OriginalObject(StringPrototypeValueOf(value));
    } else if (hasSlot(BigIntPrototypeValueOf, value)) {
      copy = OriginalObject(BigIntPrototypeValueOf(value));
    } else if (isMap(value)) {
      copy = new OriginalMap();
      MapPrototypeSet(memory, value, copy);
      const entries = [];
      MapPrototypeForEach(value, (item, key) => { ArrayPrototypePush(entries, key, item); });
      for (let i = 0; i < entries.length; i += 2) {
        MapPrototypeSet(copy, cloneValue(entries[i], memory), cloneValue(entries[i + 1], memory));
      }
    } else if (isSet(value)) {
      copy = new OriginalSet();
      MapPrototypeSet(memory, value, copy);
      const items = [];
      SetPrototypeForEach(value, (item) => { ArrayPrototypePush(items, item); });
      for (let i = 0; i < items.length; i++) SetPrototypeAdd(copy, cloneValue(items[i], memory));
    } else if (isError(value)) {
      copy = cloneError(value);
    } else if (isUncloneableObject(value)) {
      throw notCloneable(value);
    } else {
      copy = {}; // class instances too: only their own enumerable data survives, as in browsers
      MapPrototypeSet(memory, value, copy);
      cloneProperties(value, copy, memory);
    }
    MapPrototypeSet(memory, value, copy);
    return copy;
  }

  const { structuredClone } = {
    structuredClone(value, options = undefined) {
      if (arguments.length === 0) throw new OriginalTypeError('structuredClone: 1 argument required, but only 0 present.');
      if (options !== undefined && options !== null) {
        if (typeof options !== 'object' && typeof options !== 'function') {
          throw new OriginalTypeError('structuredClone: the options argument must be an object');
        }
        const transfer = options.transfer;
        if (transfer !== undefined && [...transfer].length > 0) {
          // Transferring means detaching the original, which plain JavaScript cannot do.
          throw domError('DataCloneError', 'structuredClone: transferring objects is not supported.', structuredClone);
        }
      }
      return cloneValue(value, new OriginalMap());
    },
  };

  // ---------------------------------------------------------------------------------------------
  // TextEncoder / TextDecoder (UTF-8 only, the WHATWG Encoding algorithms)

  function utf8Length(string) {
    let size = 0;
    for (let i = 0; i < string.length; i++) {
      const code = StringPrototypeCharCodeAt(string, i);
      if (code < 0x80) {
        size += 1;
      } else if (code < 0x800) {
        size += 2;
      } else if (code >= 0xd800 && code <= 0xdbff) {
        const next = StringPrototypeCharCodeAt(string, i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          size += 4;
          i++;
        } else {
          size += 3; // a lone surrogate becomes U+FFFD
        }
      } else {
        size += 3;
      }
    }
    return size;
  }

  // Writes the code point at string[index] into bytes; returns [code units read, bytes written],
  // or [0, 0] when it does not fit in `room` bytes.
  function encodeCodePoint(string, index, bytes, at, room) {
    let code = StringPrototypeCharCodeAt(string, index);
    let read = 1;
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = StringPrototypeCharCodeAt(string, index + 1);
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        read = 2;
      } else {
        code = 0xfffd;
      }
    }
    if (code < 0x80) {
      if (room < 1) return 0;
      bytes[at] = code;
      return read | (1 << 2);
    }
    if (code < 0x800) {
      if (room < 2) return 0;
      bytes[at] = 0xc0 | (code >> 6);
      bytes[at + 1] = 0x80 | (code & 0x3f);
      return read | (2 << 2);
    }
    if (code < 0x10000) {
      if (room < 3) return 0;
      bytes[at] = 0xe0 | (code >> 12);
      bytes[at + 1] = 0x80 | ((code >> 6) & 0x3f);
      bytes[at + 2] = 0x80 | (code & 0x3f);
      return read | (3 << 2);
    }
    if (room < 4) return 0;
    bytes[at] = 0xf0 | (code >> 18);
    bytes[at + 1] = 0x80 | ((code >> 12) & 0x3f);
    bytes[at + 2] = 0x80 | ((code >> 6) & 0x3f);
    bytes[at + 3] = 0x80 | (code & 0x3f);
    return read | (4 << 2);
  }

  class TextEncoder {
    get encoding() { return 'utf-8'; }

    encode(input = '') {
      const string = `${input}`;
      const bytes = new OriginalUint8Array(utf8Length(string));
      for (let i = 0, at = 0; i < string.length;) {
        const step = encodeCodePoint(string, i, bytes, at, 4);
        i += step & 3;
        at += step >> 2;
      }
      return bytes;
    }

    encodeInto(source, destination) {
      const string = `${source}`;
      if (TypedArrayPrototypeGetName(destination) !== 'Uint8Array') {
        throw new OriginalTypeError('The "destination" argument must be an instance of Uint8Array');
      }
      const length = TypedArrayPrototypeLength(destination);
      let read = 0;
      let written = 0;
      while (read < string.length) {
        const step = encodeCodePoint(string, read, destination, written, length - written);
        if (step === 0) break;
        read += step & 3;
        written += step >> 2;
      }
      return { read, written };
    }
  }

  const UTF8_LABELS = ['unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'utf-8', 'utf8', 'x-unicode20utf8'];
  const isAsciiWhitespace = (code) => code === 9 || code === 10 || code === 12 || code === 13 || code === 32;

  function encodingName(label) {
    let start = 0;
    let end = label.length;
    while (start < end && isAsciiWhitespace(StringPrototypeCharCodeAt(label, start))) start++;
    while (end > start && isAsciiWhitespace(StringPrototypeCharCodeAt(label, end - 1))) end--;
    return StringPrototypeToLowerCase(StringPrototypeSlice(label, start, end));
  }

  function checkDictionary(options, what) {
    if (options !== undefined && options !== null && typeof options !== 'object' && typeof options !== 'function') {
      throw new OriginalTypeError(`The "${what}" argument must be an object`);
    }
  }

  function bytesOf(input) {
    if (input === undefined) return new OriginalUint8Array(0);
    if (ArrayBufferIsView(input)) {
      if (TypedArrayPrototypeGetName(input) !== undefined) {
        return new OriginalUint8Array(TypedArrayPrototypeBuffer(input), TypedArrayPrototypeByteOffset(input),
          TypedArrayPrototypeByteLength(input));
      }
      return new OriginalUint8Array(DataViewPrototypeBuffer(input), DataViewPrototypeByteOffset(input),
        DataViewPrototypeByteLength(input));
    }
    if (isArrayBuffer(input) || isSharedArrayBuffer(input)) return new OriginalUint8Array(input);
    throw new OriginalTypeError('The "input" argument must be an instance of ArrayBuffer or ArrayBufferView');
  }

  function codeUnitsToString(units, length) {
    const CHUNK = 8192; // well below the engine's limit on arguments
    let string = '';
    for (let i = 0; i < length; i += CHUNK) {
      const count = MathMin(CHUNK, length - i);
      string += ReflectApply(StringFromCharCode, null, new OriginalUint16Array(TypedArrayPrototypeBuffer(units), i * 2, count));
    }
    return string;
  }

  class TextDecoder {
    #fatal;
    #ignoreBOM;
    #streaming = false; // the previous decode() was called with {stream: true}
    #bomSeen = false;
    #needed = 0;
    #seen = 0;
    #codePoint = 0;
    #lower = 0x80;
    #upper = 0xbf;

    constructor(label = 'utf-8', options = undefined) {
      const name = encodingName(`${label}`);
      if (!ArrayPrototypeIncludes(UTF8_LABELS, name)) {
        throw new OriginalRangeError(`The "${label}" encoding is not supported`);
      }
      checkDictionary(options, 'options');
      this.#fatal = !!options?.fatal;
      this.#ignoreBOM = !!options?.ignoreBOM;
    }

    get encoding() { return 'utf-8'; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }

    #reset() {
      this.#bomSeen = false;
      this.#needed = 0;
      this.#seen = 0;
      this.#codePoint = 0;
      this.#lower = 0x80;
      this.#upper = 0xbf;
    }

    decode(input = undefined, options = undefined) {
      const bytes = bytesOf(input);
      checkDictionary(options, 'options');
      const stream = !!options?.stream;
      if (!this.#streaming) this.#reset();
      this.#streaming = stream;

      const fatal = this.#fatal;
      const stripBOM = !this.#ignoreBOM;
      let bomSeen = this.#bomSeen;
      let needed = this.#needed;
      let seen = this.#seen;
      let codePoint = this.#codePoint;
      let lower = this.#lower;
      let upper = this.#upper;
      // Each byte yields at most one code unit, plus one for a sequence left from the previous call
      // and one for a four-byte sequence that this call completes.
      const units = new OriginalUint16Array(bytes.length + 3);
      let length = 0;

      const emit = (code) => {
        if (!bomSeen) {
          bomSeen = true;
          if (code === 0xfeff && stripBOM) return;
        }
        if (code > 0xffff) {
          code -= 0x10000;
          units[length++] = 0xd800 + (code >> 10);
          units[length++] = 0xdc00 + (code & 0x3ff);
        } else {
          units[length++] = code;
        }
      };
      const invalid = () => {
        if (fatal) {
          this.#streaming = false;
          this.#reset();
          throw new OriginalTypeError('The encoded data was not valid for encoding utf-8');
        }
        emit(0xfffd);
      };

      for (let i = 0; i < bytes.length; i++) {
        const byte = bytes[i];
        if (needed === 0) {
          if (byte <= 0x7f) {
            emit(byte);
          } else if (byte >= 0xc2 && byte <= 0xdf) {
            needed = 1;
            codePoint = byte & 0x1f;
          } else if (byte >= 0xe0 && byte <= 0xef) {
            if (byte === 0xe0) lower = 0xa0;
            else if (byte === 0xed) upper = 0x9f;
            needed = 2;
            codePoint = byte & 0x0f;
          } else if (byte >= 0xf0 && byte <= 0xf4) {
            if (byte === 0xf0) lower = 0x90;
            else if (byte === 0xf4) upper = 0x8f;
            needed = 3;
            codePoint = byte & 0x07;
          } else {
            invalid();
          }
        } else if (byte < lower || byte > upper) {
          needed = seen = codePoint = 0;
          lower = 0x80;
          upper = 0xbf;
          i--; // the byte that broke the sequence is decoded again, on its own
          invalid();
        } else {
          lower = 0x80;
          upper = 0xbf;
          codePoint = (codePoint << 6) | (byte & 0x3f);
          if (++seen === needed) {
            emit(codePoint);
            needed = seen = codePoint = 0;
          }
        }
      }

      if (!stream && needed !== 0) {
        needed = seen = codePoint = 0;
        lower = 0x80;
        upper = 0xbf;
        invalid();
      }
      this.#bomSeen = bomSeen;
      this.#needed = needed;
      this.#seen = seen;
      this.#codePoint = codePoint;
      this.#lower = lower;
      this.#upper = upper;
      return codeUnitsToString(units, length);
    }
  }

  for (const [prototype, tag] of [[TextEncoder.prototype, 'TextEncoder'], [TextDecoder.prototype, 'TextDecoder']]) {
    ObjectDefineProperty(prototype, Symbol.toStringTag, { value: tag, configurable: true });
  }

  // ---------------------------------------------------------------------------------------------
  // atob / btoa (HTML's forgiving-base64)

  const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const BASE64_VALUES = new OriginalUint8Array(128).fill(255);
  for (let i = 0; i < 64; i++) BASE64_VALUES[StringPrototypeCharCodeAt(BASE64_ALPHABET, i)] = i;

  const { atob, btoa } = {
    atob(data) {
      if (arguments.length === 0) throw new OriginalTypeError("Failed to execute 'atob': 1 argument required, but only 0 present.");
      const string = `${data}`;
      const bad = () => domError('InvalidCharacterError', 'The string to be decoded is not correctly encoded.', atob);
      const values = new OriginalUint8Array(string.length);
      let count = 0;
      let padding = 0;
      for (let i = 0; i < string.length; i++) {
        const code = StringPrototypeCharCodeAt(string, i);
        if (isAsciiWhitespace(code)) continue;
        if (code === 61) { // '=' may only end the input, once or twice
          padding++;
          continue;
        }
        const value = code < 128 ? BASE64_VALUES[code] : 255;
        if (value === 255 || padding > 0) throw bad();
        values[count++] = value;
      }
      if (padding > 2 || (padding > 0 && (count + padding) % 4 !== 0) || count % 4 === 1) throw bad();
      const bytes = new OriginalUint16Array((count * 3) >> 2);
      let length = 0;
      let buffer = 0;
      let bits = 0;
      for (let i = 0; i < count; i++) {
        buffer = ((buffer << 6) | values[i]) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          bytes[length++] = (buffer >> bits) & 0xff;
        }
      }
      return codeUnitsToString(bytes, length);
    },
    btoa(data) {
      if (arguments.length === 0) throw new OriginalTypeError("Failed to execute 'btoa': 1 argument required, but only 0 present.");
      const string = `${data}`;
      const units = new OriginalUint16Array(((string.length + 2) / 3 | 0) * 4);
      let length = 0;
      const code = (i) => {
        const unit = StringPrototypeCharCodeAt(string, i);
        if (unit > 0xff) {
          throw domError('InvalidCharacterError',
            'The string to be encoded contains characters outside of the Latin1 range.', btoa);
        }
        return unit;
      };
      for (let i = 0; i < string.length; i += 3) {
        const rest = string.length - i;
        const triple = (code(i) << 16) | (rest > 1 ? code(i + 1) << 8 : 0) | (rest > 2 ? code(i + 2) : 0);
        units[length++] = StringPrototypeCharCodeAt(BASE64_ALPHABET, triple >> 18);
        units[length++] = StringPrototypeCharCodeAt(BASE64_ALPHABET, (triple >> 12) & 63);
        units[length++] = rest > 1 ? StringPrototypeCharCodeAt(BASE64_ALPHABET, (triple >> 6) & 63) : 61;
        units[length++] = rest > 2 ? StringPrototypeCharCodeAt(BASE64_ALPHABET, triple & 63) : 61;
      }
      return codeUnitsToString(units, length);
    },
  };

  // ---------------------------------------------------------------------------------------------
  // performance

  const timeOrigin = OriginalDate.now();
  const performance = {
    now() { return monotonicNow(); },
    toJSON() { return { timeOrigin }; },
  };
  ObjectDefineProperty(performance, 'timeOrigin', { value: timeOrigin, enumerable: true, configurable: true });
  ObjectDefineProperty(performance, Symbol.toStringTag, { value: 'Performance', configurable: true });

  // ---------------------------------------------------------------------------------------------
  // Install

  const defineGlobal = (name, value) => ObjectDefineProperty(OriginalGlobal, name, {
    value, writable: true, enumerable: false, configurable: true,
  });
  // Replaces V8's own console, which writes nowhere without an inspector.
  const always = { console, setTimeout, setInterval, clearTimeout, clearInterval };
  // V8 itself has none of these; an engine that does keeps its own.
  const ifMissing = { queueMicrotask, structuredClone, TextEncoder, TextDecoder, atob, btoa, performance };
  for (const name of ObjectKeys(always)) defineGlobal(name, always[name]);
  for (const name of ObjectKeys(ifMissing)) {
    if (!ObjectPrototypeHasOwnProperty(OriginalGlobal, name)) defineGlobal(name, ifMissing[name]);
  }
  return fire;
})
