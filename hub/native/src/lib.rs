//! trm-hub's wire walk in native code (`hub.wire._native`; Python side: `hub/wire/native.py`).
//!
//! Two hot loops of opening an envelope, each of which only ever *answers* for
//! input it fully understands and otherwise says "not sure" (`None` / `False`),
//! so that the Python code -- the authority -- decides, with every refusal and
//! message it has always given:
//!
//! - [`Disclosures`]: split each disclosure `salt(16) || varint name || varint
//!   value` and hash it (SHA-256), building the same `Disclosure` objects as
//!   `hub.wire.disclosures.parse_disclosures`; it accepts exactly what that
//!   function's inline common case accepts (a name of 0..63 bytes of UTF-8, a
//!   value length of one or two varint bytes, nothing left over).
//! - [`Schema`]: a schema compiled once, which says whether bytes are an exact
//!   Avro encoding of it without building the value ([`check_values`]: every
//!   disclosed value of an event in one call), or reads the value as the
//!   compiled reader of `hub/wire/avrofast.py` builds it (envelopes, headers,
//!   a payload field when it is read). It answers for no more than that reader
//!   does (the same schema subset, the same limits), so a value it passes
//!   decodes later, when a field is read.
//!
//! - [`Ed25519Public`] and [`Ed25519Private`]: Ed25519 (RFC 8032) with
//!   `ed25519-dalek`, for `hub.keys` (`ed25519_verify`, `ed25519_sign`). Unlike
//!   the two above this one decides: its verify is RFC 8032's with the
//!   cofactorless equation and `s < L` -- what OpenSSL and so PyCA's
//!   `cryptography` do -- and `tests/unit/test_ed25519_native.py` checks that
//!   the two agree on the RFC 8032, Wycheproof and speccheck vectors and on
//!   mutated inputs, and that both sign to the same bytes. The GIL is released
//!   while it computes, so threads can verify on several cores.
//!
//! No `unsafe` touches the input bytes: they are read through bounds-checked
//! slices. The only `unsafe` is the C API calls that allocate a `Disclosure`
//! and set its slots (what `object.__new__` and the slots' `__set__` do).

use std::collections::{HashMap, HashSet};
use std::os::raw::c_int;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PyLong, PyString, PyTuple, PyType};
use serde_json::Value;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey, PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH, SIGNATURE_LENGTH};
use sha2::{Digest, Sha256};

const SALT_SIZE: usize = 16;
const FIELD_AT: usize = SALT_SIZE + 1;

// -- disclosures ------------------------------------------------------------------

type DescrSet = unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::PyObject, *mut ffi::PyObject) -> c_int;

/// Where one disclosure's parts are: (name end, value start), or None.
fn split(raw: &[u8]) -> Option<(usize, usize)> {
    let size = raw.len();
    if size <= FIELD_AT {
        return None;
    }
    let n = raw[SALT_SIZE] as usize;
    if n >= 0x80 || n & 1 != 0 {
        return None;
    }
    let pos = FIELD_AT + (n >> 1);
    if pos + 1 >= size {
        return None;
    }
    let mut m = raw[pos] as usize;
    let mut start = pos + 1;
    if m >= 0x80 {
        let high = raw[start] as usize;
        if high >= 0x80 {
            return None;
        }
        m = (m & 0x7F) | (high << 7);
        start += 1;
    }
    if m & 1 != 0 || start + (m >> 1) != size {
        return None;
    }
    std::str::from_utf8(&raw[FIELD_AT..pos]).ok()?;
    Some((pos, start))
}

/// Builds `Disclosure` objects: the class and its five slot descriptors,
/// checked once, so that `build` can only ever fill every slot of a plain
/// instance of that class.
#[pyclass(frozen, module = "hub.wire._native")]
struct Disclosures {
    cls: Py<PyType>,
    alloc: ffi::allocfunc,
    setters: Vec<(Py<PyAny>, DescrSet)>,
}

#[pymethods]
impl Disclosures {
    /// ``cls`` (a slotted class) and its member descriptors for (raw, digest,
    /// salt, field, value), in that order.
    #[new]
    fn new(cls: &Bound<'_, PyType>, slots: &Bound<'_, PyTuple>) -> PyResult<Self> {
        if slots.len() != 5 {
            return Err(PyValueError::new_err("expected the 5 slot descriptors of Disclosure"));
        }
        let mut setters = Vec::with_capacity(5);
        for descr in slots.iter() {
            // Only a slot's own descriptor: its __set__ runs no Python code.
            if descr.get_type().name()? != "member_descriptor" || !descr.getattr("__objclass__")?.is(cls) {
                return Err(PyTypeError::new_err("expected a member descriptor of the class"));
            }
            // SAFETY: PyType_GetSlot on the descriptor's own type; NULL if it has no __set__.
            let ptr = unsafe { ffi::PyType_GetSlot(ffi::Py_TYPE(descr.as_ptr()), ffi::Py_tp_descr_set) };
            if ptr.is_null() {
                return Err(PyTypeError::new_err("a slot descriptor without __set__"));
            }
            // SAFETY: the Py_tp_descr_set slot holds a descrsetfunc.
            let set: DescrSet = unsafe { std::mem::transmute::<*mut std::os::raw::c_void, DescrSet>(ptr) };
            setters.push((descr.unbind(), set));
        }
        // SAFETY: Py_tp_alloc of a class (PyType_GenericAlloc for a slotted dataclass).
        let alloc = unsafe { ffi::PyType_GetSlot(cls.as_type_ptr(), ffi::Py_tp_alloc) };
        if alloc.is_null() {
            return Err(PyTypeError::new_err("a class without tp_alloc"));
        }
        // SAFETY: the Py_tp_alloc slot holds an allocfunc.
        let alloc: ffi::allocfunc = unsafe { std::mem::transmute::<*mut std::os::raw::c_void, ffi::allocfunc>(alloc) };
        Ok(Self { cls: cls.clone().unbind(), alloc, setters })
    }

    /// Objects for `raws`, or None when any one is not the common case (or
    /// `raws` is not a list of bytes): "not sure", the Python loop decides.
    fn build<'py>(&self, py: Python<'py>, raws: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Ok(list) = raws.downcast_exact::<PyList>() else {
            return Ok(None);
        };
        let cls = self.cls.bind(py);
        let mut out: Vec<Bound<'py, PyAny>> = Vec::with_capacity(list.len());
        for item in list.iter() {
            let Ok(raw) = item.downcast_exact::<PyBytes>() else {
                return Ok(None);
            };
            let data = raw.as_bytes();
            let Some((pos, start)) = split(data) else {
                return Ok(None);
            };
            let name = std::str::from_utf8(&data[FIELD_AT..pos]).expect("checked by split");
            let parts: [Bound<'py, PyAny>; 5] = [
                raw.clone().into_any(),
                PyBytes::new_bound(py, &Sha256::digest(data)).into_any(),
                PyBytes::new_bound(py, &data[..SALT_SIZE]).into_any(),
                PyString::new_bound(py, name).into_any(),
                PyBytes::new_bound(py, &data[start..]).into_any(),
            ];
            // SAFETY: the class's own tp_alloc; a NULL result is an error it has set.
            let obj = unsafe { (self.alloc)(cls.as_type_ptr(), 0) };
            if obj.is_null() {
                return Err(PyErr::fetch(py));
            }
            // SAFETY: obj is a new reference, owned from here on by `obj`.
            let obj = unsafe { Bound::from_owned_ptr(py, obj) };
            for ((descr, set), value) in self.setters.iter().zip(parts.iter()) {
                // SAFETY: the class's own member descriptor (checked in `new`) on a new
                // instance of it: stores the value, runs no Python code.
                if unsafe { set(descr.as_ptr(), obj.as_ptr(), value.as_ptr()) } != 0 {
                    return Err(PyErr::fetch(py));
                }
            }
            out.push(obj);
        }
        Ok(Some(PyTuple::new_bound(py, out)))
    }
}

// -- payload values -----------------------------------------------------------------

enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    Str,
    Fixed(usize),
    Enum(Vec<Py<PyString>>),
    Array(Box<Node>),
    Map(Box<Node>),
    Record(Vec<(Py<PyString>, Node)>),
    NullOr(Box<Node>),
    Union(Vec<Node>),
}

const PRIMITIVES: [&str; 8] = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];
const COMPLEX: [&str; 5] = ["fixed", "enum", "record", "array", "map"];

fn primitive(name: &str) -> Option<Node> {
    Some(match name {
        "null" => Node::Null,
        "boolean" => Node::Boolean,
        "int" => Node::Int,
        "long" => Node::Long,
        "float" => Node::Float,
        "double" => Node::Double,
        "bytes" => Node::Bytes,
        "string" => Node::Str,
        _ => return None,
    })
}

/// The schema as a tree, as `avrofast._ReaderSource.value` walks it (the same
/// subset: no logical types, no recursive named types).
fn compile(py: Python<'_>, node: &Value, named: &mut HashMap<String, Value>, open: &HashSet<String>) -> Result<Node, String> {
    match node {
        Value::String(name) => {
            if let Some(p) = primitive(name) {
                return Ok(p);
            }
            if open.contains(name) {
                return Err(format!("recursive type {name}"));
            }
            let Some(def) = named.get(name).cloned() else {
                return Err(format!("unknown type {name}"));
            };
            compile(py, &def, named, open)
        }
        Value::Array(branches) => {
            if branches.len() == 2 && branches[0] == Value::String("null".into()) {
                return Ok(Node::NullOr(Box::new(compile(py, &branches[1], named, open)?)));
            }
            let mut out = Vec::with_capacity(branches.len());
            for branch in branches {
                out.push(compile(py, branch, named, open)?);
            }
            Ok(Node::Union(out))
        }
        Value::Object(map) => {
            if map.contains_key("logicalType") {
                return Err("logicalType".into());
            }
            let kind = map.get("type").ok_or("a schema without type")?;
            let kind = match kind {
                Value::Object(_) | Value::Array(_) => return compile(py, kind, named, open),
                Value::String(kind) => kind.as_str(),
                _ => return Err("a type that is not a name".into()),
            };
            if kind == "fixed" || kind == "enum" || kind == "record" {
                let name = map.get("name").and_then(Value::as_str).ok_or("a named type without name")?;
                named.insert(name.to_owned(), node.clone());
            } else if !PRIMITIVES.contains(&kind) && !COMPLEX.contains(&kind) {
                return compile(py, &Value::String(kind.to_owned()), named, open);
            }
            if let Some(p) = primitive(kind) {
                return Ok(p);
            }
            match kind {
                "fixed" => {
                    let size = map.get("size").and_then(Value::as_u64).ok_or("fixed without size")?;
                    Ok(Node::Fixed(usize::try_from(size).map_err(|_| "fixed size")?))
                }
                "enum" => {
                    let symbols = map.get("symbols").and_then(Value::as_array).ok_or("enum without symbols")?;
                    let mut out = Vec::with_capacity(symbols.len());
                    let mut seen = HashSet::new();
                    for symbol in symbols {
                        let symbol = symbol.as_str().ok_or("a symbol that is not a string")?;
                        if !seen.insert(symbol) {
                            return Err(format!("symbol {symbol} twice")); // fastavro refuses it too
                        }
                        out.push(PyString::new_bound(py, symbol).unbind());
                    }
                    Ok(Node::Enum(out))
                }
                "array" => Ok(Node::Array(Box::new(compile(py, map.get("items").ok_or("array without items")?, named, open)?))),
                "map" => Ok(Node::Map(Box::new(compile(py, map.get("values").ok_or("map without values")?, named, open)?))),
                "record" => {
                    let name = map.get("name").and_then(Value::as_str).ok_or("record without name")?;
                    let mut inside = open.clone();
                    inside.insert(name.to_owned());
                    let fields = map.get("fields").and_then(Value::as_array).ok_or("record without fields")?;
                    let mut out = Vec::with_capacity(fields.len());
                    for field in fields {
                        let fname = field.get("name").and_then(Value::as_str).ok_or("field without name")?;
                        let ftype = compile(py, field.get("type").ok_or("field without type")?, named, &inside)?;
                        out.push((PyString::new_bound(py, fname).unbind(), ftype));
                    }
                    Ok(Node::Record(out))
                }
                other => Err(format!("unknown kind {other}")),
            }
        }
        _ => Err("not a schema".into()),
    }
}

/// A zig-zag varint of at most 9 bytes (63 bits), as avrofast's `read_long`.
fn varint(data: &[u8], pos: &mut usize) -> Option<i64> {
    let mut acc: u64 = 0;
    let mut shift = 0u32;
    loop {
        let b = *data.get(*pos)?;
        *pos += 1;
        acc |= u64::from(b & 0x7F) << shift;
        if b < 0x80 {
            return Some(((acc >> 1) as i64) ^ -((acc & 1) as i64));
        }
        shift += 7;
        if shift > 56 {
            return None;
        }
    }
}

fn take(data: &[u8], pos: &mut usize, n: usize) -> Option<()> {
    let end = pos.checked_add(n)?;
    if end > data.len() {
        return None;
    }
    *pos = end;
    Some(())
}

fn sized(data: &[u8], pos: &mut usize, text: bool) -> Option<()> {
    let n = varint(data, pos)?;
    let n = usize::try_from(n).ok()?;
    let start = *pos;
    take(data, pos, n)?;
    if text {
        std::str::from_utf8(&data[start..*pos]).ok()?;
    }
    Some(())
}

/// The block loops of an array or map: `item` for each item.
fn blocks(data: &[u8], pos: &mut usize, mut item: impl FnMut(&mut usize) -> Option<()>) -> Option<()> {
    let size = data.len() as i64;
    loop {
        let n = varint(data, pos)?;
        if n == 0 {
            return Some(());
        }
        if n < 0 || n > size {
            return None;
        }
        for _ in 0..n {
            let before = *pos;
            item(pos)?;
            if *pos == before {
                return None; // items of no bytes: let the Python side count them
            }
        }
    }
}

fn check(node: &Node, data: &[u8], pos: &mut usize) -> Option<()> {
    match node {
        Node::Null => Some(()),
        Node::Boolean => {
            if *data.get(*pos)? > 1 {
                return None;
            }
            *pos += 1;
            Some(())
        }
        Node::Int => {
            let v = varint(data, pos)?;
            if v < i64::from(i32::MIN) || v > i64::from(i32::MAX) {
                return None;
            }
            Some(())
        }
        Node::Long => varint(data, pos).map(|_| ()),
        Node::Float => take(data, pos, 4),
        Node::Double => take(data, pos, 8),
        Node::Bytes => sized(data, pos, false),
        Node::Str => sized(data, pos, true),
        Node::Fixed(size) => take(data, pos, *size),
        Node::Enum(symbols) => {
            let i = varint(data, pos)?;
            if i < 0 || i >= symbols.len() as i64 {
                return None;
            }
            Some(())
        }
        Node::Array(items) => blocks(data, pos, |p| check(items, data, p)),
        Node::Map(values) => blocks(data, pos, |p| {
            sized(data, p, true)?;
            check(values, data, p)
        }),
        Node::Record(fields) => {
            for (_, field) in fields {
                check(field, data, pos)?;
            }
            Some(())
        }
        Node::NullOr(inner) => {
            let b = *data.get(*pos)?;
            *pos += 1;
            match b {
                0 => Some(()),
                2 => check(inner, data, pos),
                _ => None,
            }
        }
        Node::Union(branches) => {
            let i = varint(data, pos)?;
            let branch = branches.get(usize::try_from(i).ok()?)?;
            check(branch, data, pos)
        }
    }
}

/// The value at `pos`, as avrofast's compiled reader builds it (records as
/// dicts in field order, enums as their symbols, unions as the branch's value).
fn read<'py>(py: Python<'py>, node: &Node, data: &[u8], pos: &mut usize) -> Option<Bound<'py, PyAny>> {
    Some(match node {
        Node::Null => py.None().into_bound(py),
        Node::Boolean => {
            let b = *data.get(*pos)?;
            if b > 1 {
                return None;
            }
            *pos += 1;
            PyBool::new_bound(py, b == 1).to_owned().into_any()
        }
        Node::Int => {
            let v = varint(data, pos)?;
            if v < i64::from(i32::MIN) || v > i64::from(i32::MAX) {
                return None;
            }
            v.into_py(py).into_bound(py)
        }
        Node::Long => varint(data, pos)?.into_py(py).into_bound(py),
        Node::Float => {
            let start = *pos;
            take(data, pos, 4)?;
            let v = f32::from_le_bytes(data[start..*pos].try_into().ok()?);
            PyFloat::new_bound(py, f64::from(v)).into_any()
        }
        Node::Double => {
            let start = *pos;
            take(data, pos, 8)?;
            PyFloat::new_bound(py, f64::from_le_bytes(data[start..*pos].try_into().ok()?)).into_any()
        }
        Node::Bytes | Node::Str => {
            let n = usize::try_from(varint(data, pos)?).ok()?;
            let start = *pos;
            take(data, pos, n)?;
            let chunk = &data[start..*pos];
            if matches!(node, Node::Str) {
                PyString::new_bound(py, std::str::from_utf8(chunk).ok()?).into_any()
            } else {
                PyBytes::new_bound(py, chunk).into_any()
            }
        }
        Node::Fixed(size) => {
            let start = *pos;
            take(data, pos, *size)?;
            PyBytes::new_bound(py, &data[start..*pos]).into_any()
        }
        Node::Enum(symbols) => {
            let i = varint(data, pos)?;
            symbols.get(usize::try_from(i).ok()?)?.clone_ref(py).into_bound(py).into_any()
        }
        Node::Array(items) => {
            let list = PyList::empty_bound(py);
            blocks(data, pos, |p| list.append(read(py, items, data, p)?).ok())?;
            list.into_any()
        }
        Node::Map(values) => {
            let dict = PyDict::new_bound(py);
            blocks(data, pos, |p| {
                let n = usize::try_from(varint(data, p)?).ok()?;
                let start = *p;
                take(data, p, n)?;
                let key = std::str::from_utf8(&data[start..*p]).ok()?;
                let value = read(py, values, data, p)?;
                dict.set_item(key, value).ok()
            })?;
            dict.into_any()
        }
        Node::Record(fields) => {
            let dict = PyDict::new_bound(py);
            for (name, field) in fields {
                let value = read(py, field, data, pos)?;
                dict.set_item(name.bind(py), value).ok()?;
            }
            dict.into_any()
        }
        Node::NullOr(inner) => {
            let b = *data.get(*pos)?;
            *pos += 1;
            match b {
                0 => py.None().into_bound(py),
                2 => read(py, inner, data, pos)?,
                _ => return None,
            }
        }
        Node::Union(branches) => {
            let i = varint(data, pos)?;
            let branch = branches.get(usize::try_from(i).ok()?)?;
            read(py, branch, data, pos)?
        }
    })
}

/// Whether the compiled writer of avrofast writes this schema: unions only of
/// the form `["null", T]` with T neither a union nor null, and no maps.
fn writable(node: &Node) -> bool {
    match node {
        Node::Map(_) | Node::Union(_) => false,
        // ["null", T] with T neither null nor a union, as avrofast's writer.
        Node::NullOr(inner) => !matches!(**inner, Node::Null | Node::NullOr(_) | Node::Union(_)) && writable(inner),
        Node::Array(items) => writable(items),
        Node::Record(fields) => fields.iter().all(|(_, f)| writable(f)),
        _ => true,
    }
}

fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7F) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn put_sized(out: &mut Vec<u8>, data: &[u8]) {
    put_long(out, data.len() as i64);
    out.extend_from_slice(data);
}

/// Append the encoding of `value`, as avrofast's compiled writer does: only
/// for a value of exactly its schema's type (None: "not sure", fastavro writes).
fn write(node: &Node, value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Option<()> {
    match node {
        Node::Null => value.is_none().then_some(()),
        Node::Boolean => {
            if value.is(&PyBool::new_bound(value.py(), true).to_owned()) {
                out.push(1);
            } else if value.is(&PyBool::new_bound(value.py(), false).to_owned()) {
                out.push(0);
            } else {
                return None;
            }
            Some(())
        }
        Node::Int | Node::Long => {
            if !value.is_exact_instance_of::<PyLong>() {
                return None;
            }
            let v: i64 = value.extract().ok()?;
            if matches!(node, Node::Int) && (v < i64::from(i32::MIN) || v > i64::from(i32::MAX)) {
                return None;
            }
            put_long(out, v);
            Some(())
        }
        Node::Float | Node::Double => {
            if !value.is_exact_instance_of::<PyFloat>() {
                return None;
            }
            let v: f64 = value.extract().ok()?;
            if v.is_nan() {
                return None; // its bits are struct's to choose
            }
            if matches!(node, Node::Float) {
                let f = v as f32;
                if f.is_infinite() && !v.is_infinite() {
                    return None; // too large for a float: struct raises
                }
                out.extend_from_slice(&f.to_le_bytes());
            } else {
                out.extend_from_slice(&v.to_le_bytes());
            }
            Some(())
        }
        Node::Bytes => {
            let b = value.downcast_exact::<PyBytes>().ok()?;
            put_sized(out, b.as_bytes());
            Some(())
        }
        Node::Str => {
            let s = value.downcast_exact::<PyString>().ok()?;
            put_sized(out, s.to_str().ok()?.as_bytes());
            Some(())
        }
        Node::Fixed(size) => {
            let b = value.downcast_exact::<PyBytes>().ok()?;
            if b.as_bytes().len() != *size {
                return None;
            }
            out.extend_from_slice(b.as_bytes());
            Some(())
        }
        Node::Enum(symbols) => {
            let s = value.downcast_exact::<PyString>().ok()?.to_str().ok()?;
            let py = value.py();
            let index = symbols.iter().position(|sym| sym.bind(py).to_str().map_or(false, |t| t == s))?;
            put_long(out, index as i64);
            Some(())
        }
        Node::Array(items) => {
            let list = value.downcast_exact::<PyList>().ok()?;
            if !list.is_empty() {
                put_long(out, list.len() as i64);
                for item in list.iter() {
                    write(items, &item, out)?;
                }
            }
            out.push(0);
            Some(())
        }
        Node::Record(fields) => {
            let dict = value.downcast_exact::<PyDict>().ok()?;
            for (name, field) in fields {
                let item = dict.get_item(name.bind(value.py())).ok()??;
                write(field, &item, out)?;
            }
            Some(())
        }
        Node::NullOr(inner) => {
            if value.is_none() {
                out.push(0);
                Some(())
            } else {
                out.push(2);
                write(inner, value, out)
            }
        }
        Node::Map(_) | Node::Union(_) => None,
    }
}

/// A schema compiled for the questions the wire code asks of bytes and values.
#[pyclass(frozen, module = "hub.wire._native")]
struct Schema {
    node: Node,
    writable: bool,
}

impl Schema {
    fn exact(&self, data: &[u8]) -> bool {
        let mut pos = 0;
        check(&self.node, data, &mut pos).is_some() && pos == data.len()
    }
}

#[pymethods]
impl Schema {
    /// Compile a schema (JSON text of a parsed, standalone Avro schema).
    ///
    /// Raises ValueError for a schema outside the subset (no fast path).
    #[new]
    fn new(py: Python<'_>, schema_json: &str) -> PyResult<Self> {
        let schema: Value = serde_json::from_str(schema_json).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let node = compile(py, &schema, &mut HashMap::new(), &HashSet::new()).map_err(PyValueError::new_err)?;
        let writable = writable(&node);
        Ok(Self { node, writable })
    }

    /// True when ``data`` is exactly one encoding of the schema that the
    /// compiled reader answers for; False means "not sure", not "invalid".
    fn check(&self, data: &[u8]) -> bool {
        self.exact(data)
    }

    /// ``(value,)`` when ``data`` is exactly one encoding the compiled reader
    /// answers for, the value as it builds it; None means "not sure".
    fn read<'py>(&self, py: Python<'py>, data: &[u8]) -> Option<Bound<'py, PyTuple>> {
        let mut pos = 0;
        let value = read(py, &self.node, data, &mut pos)?;
        if pos != data.len() {
            return None;
        }
        Some(PyTuple::new_bound(py, [value]))
    }

    /// Whether :meth:`write` can answer at all (avrofast compiles a writer).
    #[getter]
    fn writable(&self) -> bool {
        self.writable
    }

    /// The encoding of ``value`` as the compiled writer gives it, or None
    /// ("not sure": a value not exactly of its schema's types, or a schema
    /// the compiled writer does not write).
    fn write<'py>(&self, py: Python<'py>, value: &Bound<'py, PyAny>) -> Option<Bound<'py, PyBytes>> {
        if !self.writable {
            return None;
        }
        let mut out = Vec::with_capacity(256);
        write(&self.node, value, &mut out)?;
        Some(PyBytes::new_bound(py, &out))
    }
}

/// True when every ``values[i]`` passes ``checkers[i]`` (both lists, the same length).
#[pyfunction]
fn check_values(checkers: &Bound<'_, PyList>, values: &Bound<'_, PyList>) -> PyResult<bool> {
    if checkers.len() != values.len() {
        return Err(PyValueError::new_err("expected one checker per value"));
    }
    for (checker, value) in checkers.iter().zip(values.iter()) {
        let Ok(checker) = checker.downcast::<Schema>() else {
            return Ok(false);
        };
        let Ok(value) = value.downcast_exact::<PyBytes>() else {
            return Ok(false);
        };
        if !checker.get().exact(value.as_bytes()) {
            return Ok(false);
        }
    }
    Ok(true)
}

// -- Ed25519 -------------------------------------------------------------------------

/// An Ed25519 public key from its 32 bytes, decompressed once.
#[pyclass(frozen, module = "hub.wire._native")]
struct Ed25519Public {
    /// None when the bytes are not a point of the curve: it verifies nothing
    /// (OpenSSL loads such a key and then refuses every signature).
    key: Option<VerifyingKey>,
}

#[pymethods]
impl Ed25519Public {
    /// Raises ValueError when ``raw`` is not 32 bytes.
    #[new]
    fn new(raw: &[u8]) -> PyResult<Self> {
        let raw: &[u8; PUBLIC_KEY_LENGTH] =
            raw.try_into().map_err(|_| PyValueError::new_err("an Ed25519 public key is 32 bytes"))?;
        Ok(Self { key: VerifyingKey::from_bytes(raw).ok() })
    }

    /// True when ``signature`` is this key's signature of ``message``
    /// (False for a signature that is not 64 bytes).
    fn verify(&self, py: Python<'_>, signature: &[u8], message: &[u8]) -> bool {
        let (Some(key), Ok(signature)) = (&self.key, <&[u8; SIGNATURE_LENGTH]>::try_from(signature)) else {
            return false;
        };
        py.allow_threads(|| verify_with(key, signature, message))
    }
}

/// The one Ed25519 verify of this module: RFC 8032's, cofactorless, `s < L`.
fn verify_with(key: &VerifyingKey, signature: &[u8; SIGNATURE_LENGTH], message: &[u8]) -> bool {
    key.verify(message, &ed25519_dalek::Signature::from_bytes(signature)).is_ok()
}

/// An Ed25519 private key from its 32-byte seed; the key is zeroed when dropped.
#[pyclass(frozen, module = "hub.wire._native")]
struct Ed25519Private {
    key: SigningKey,
}

#[pymethods]
impl Ed25519Private {
    /// Raises ValueError when ``seed`` is not 32 bytes.
    #[new]
    fn new(seed: &[u8]) -> PyResult<Self> {
        let seed: &[u8; SECRET_KEY_LENGTH] =
            seed.try_into().map_err(|_| PyValueError::new_err("an Ed25519 seed is 32 bytes"))?;
        Ok(Self { key: SigningKey::from_bytes(seed) })
    }

    /// The 32 bytes of the public key.
    fn public<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new_bound(py, self.key.verifying_key().as_bytes())
    }

    /// The 64-byte signature of ``message`` (deterministic: the same bytes as any RFC 8032 signer).
    fn sign<'py>(&self, py: Python<'py>, message: &[u8]) -> Bound<'py, PyBytes> {
        let signature = py.allow_threads(|| self.key.sign(message).to_bytes());
        PyBytes::new_bound(py, &signature)
    }

    fn __repr__(&self) -> &'static str {
        "<Ed25519Private>"
    }
}

// -- producer signatures verified ahead ----------------------------------------------

/// How many verifies may wait at once (a batch of the hub's agent is at most 512).
const AHEAD_MAX: usize = 4096;

/// The longest `take` waits for a verify under way before verifying in line itself.
const AHEAD_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// Where a job stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Queued,
    Running,
    Done,
}

/// One signature to verify ahead: the key, the message, and where it stands.
struct Job {
    id: u64,
    key: [u8; PUBLIC_KEY_LENGTH],
    message: std::sync::Arc<[u8]>,
    stage: Stage,
    ok: bool,
}

#[derive(Default)]
struct AheadState {
    /// By signature: Ed25519 is deterministic, so a signature names its message.
    jobs: HashMap<[u8; SIGNATURE_LENGTH], Job>,
    queue: std::collections::VecDeque<([u8; SIGNATURE_LENGTH], u64)>,
    next_id: u64,
    /// The process the thread was started in (a forked child starts its own).
    thread_pid: Option<u32>,
}

struct AheadShared {
    state: std::sync::Mutex<AheadState>,
    /// Signalled when a job is queued (for the thread) or done (for `take`).
    changed: std::sync::Condvar,
}

/// Where one envelope's producer signature is: (header, key id, signature), or None.
///
/// The envelope's first fields after its frame are `header` (bytes) and
/// `signature` {`key_id` (string), `sig` (bytes)} in every version
/// (schemas/envelope.avsc). Nothing here decides anything: a verify started on
/// what this finds is used only for the very (key, signature, message) that
/// `hub.wire.verify` asks about later, after its own full parse.
fn producer_signature(data: &[u8], frame: usize) -> Option<(&[u8], &str, &[u8; SIGNATURE_LENGTH])> {
    let mut pos = frame;
    let field = |pos: &mut usize| -> Option<(usize, usize)> {
        let n = varint(data, pos)?;
        let start = *pos;
        take(data, pos, usize::try_from(n).ok()?)?;
        Some((start, *pos))
    };
    let (h0, h1) = field(&mut pos)?;
    let (k0, k1) = field(&mut pos)?;
    let (s0, s1) = field(&mut pos)?;
    let key_id = std::str::from_utf8(&data[k0..k1]).ok()?;
    Some((&data[h0..h1], key_id, data[s0..s1].try_into().ok()?))
}

/// Ed25519 verifies started ahead on a thread of their own, for the hub's agent.
///
/// [`VerifyAhead::submit`] finds each envelope's producer signature and queues
/// its verify; a native thread, which never takes the GIL, verifies them one
/// by one while the agent's Python thread judges the records before. When
/// `hub.keys.ed25519_verify` then asks for a signature, [`VerifyAhead::take`]
/// answers with the result if that very key, signature and message were
/// verified ahead (waiting, with the GIL let go, for one being verified), and
/// otherwise says "not here" (None): a job not yet started is taken back and
/// the caller verifies in line, so a one-record batch waits for no thread.
#[pyclass(frozen, module = "hub.wire._native")]
struct VerifyAhead {
    shared: std::sync::Arc<AheadShared>,
}

impl VerifyAhead {
    fn thread(shared: std::sync::Arc<AheadShared>) {
        let mut keys: HashMap<[u8; PUBLIC_KEY_LENGTH], Option<VerifyingKey>> = HashMap::new();
        let mut state = shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            let Some((sig, id)) = state.queue.pop_front() else {
                state = shared.changed.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            };
            let Some(job) = state.jobs.get_mut(&sig).filter(|j| j.id == id && j.stage == Stage::Queued) else {
                continue; // taken back, or forgotten
            };
            job.stage = Stage::Running;
            let (key, message) = (job.key, job.message.clone());
            drop(state);
            if keys.len() > 1024 {
                keys.clear();
            }
            let verifier = keys.entry(key).or_insert_with(|| VerifyingKey::from_bytes(&key).ok());
            let ok = verifier.as_ref().is_some_and(|k| verify_with(k, &sig, &message));
            state = shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(job) = state.jobs.get_mut(&sig).filter(|j| j.id == id) {
                job.stage = Stage::Done;
                job.ok = ok;
            }
            shared.changed.notify_all();
        }
    }
}

#[pymethods]
impl VerifyAhead {
    #[new]
    fn new() -> Self {
        let shared = AheadShared { state: std::sync::Mutex::new(AheadState::default()), changed: std::sync::Condvar::new() };
        Self { shared: std::sync::Arc::new(shared) }
    }

    /// Forget every job, then queue the producer signature of each envelope in
    /// ``raws`` (bytes after a frame of ``frame`` bytes) whose key
    /// ``key(key_id)`` returns (an object with the 32 ``raw`` bytes, or None),
    /// over the message ``message_of(header)`` returns (the Python side's PAE of
    /// the header: one home for the format). Returns how many were queued.
    /// Never raises on what it is given: what it cannot use is verified in line.
    fn submit(&self, raws: &Bound<'_, PyList>, frame: usize, message_of: &Bound<'_, PyAny>, key: &Bound<'_, PyAny>) -> PyResult<usize> {
        let py = raws.py();
        let mut found = Vec::with_capacity(raws.len());
        for item in raws.iter().take(AHEAD_MAX) {
            let Ok(raw) = item.downcast_exact::<PyBytes>() else {
                continue;
            };
            let Some((header, key_id, sig)) = producer_signature(raw.as_bytes(), frame) else {
                continue;
            };
            // A lookup that fails, or a key that is not 32 bytes, is left to the verify in line.
            let Ok(public) = key.call1((key_id,)).and_then(|k| k.getattr("raw")) else {
                continue;
            };
            let Ok(public) = public.downcast::<PyBytes>() else {
                continue;
            };
            let Ok(public) = <[u8; PUBLIC_KEY_LENGTH]>::try_from(public.as_bytes()) else {
                continue;
            };
            let Ok(message) = message_of.call1((PyBytes::new_bound(py, header),)) else {
                continue;
            };
            let Ok(message) = message.downcast::<PyBytes>() else {
                continue;
            };
            found.push((public, *sig, std::sync::Arc::<[u8]>::from(message.as_bytes())));
        }
        let mut state = self.shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.jobs.clear();
        state.queue.clear();
        let pid = std::process::id();
        if state.thread_pid != Some(pid) {
            let shared = self.shared.clone();
            let started = std::thread::Builder::new().name("trm-verify-ahead".into()).spawn(move || Self::thread(shared));
            if started.is_err() {
                return Ok(0); // no thread: everything is verified in line
            }
            state.thread_pid = Some(pid);
        }
        let mut queued = 0;
        for (public, sig, message) in found {
            if state.jobs.len() >= AHEAD_MAX || state.jobs.contains_key(&sig) {
                continue;
            }
            state.next_id += 1;
            let id = state.next_id;
            state.jobs.insert(sig, Job { id, key: public, message, stage: Stage::Queued, ok: false });
            state.queue.push_back((sig, id));
            queued += 1;
        }
        drop(state);
        self.shared.changed.notify_all();
        Ok(queued)
    }

    /// The verdict on ``signature`` by ``key`` over ``message`` if it was
    /// verified ahead, else None (never queued, taken back before it started,
    /// or queued for another key or message).
    fn take(&self, py: Python<'_>, key: &[u8], signature: &[u8], message: &[u8]) -> Option<bool> {
        let sig = <[u8; SIGNATURE_LENGTH]>::try_from(signature).ok()?;
        let shared = &self.shared;
        let mut state = shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let job = state.jobs.get(&sig)?;
        if state.thread_pid != Some(std::process::id()) {
            return None; // a forked child's copy: no thread works on it
        }
        let job = match job.stage {
            Stage::Queued => {
                state.jobs.remove(&sig);
                return None;
            }
            Stage::Running => {
                let id = job.id;
                drop(state);
                py.allow_threads(|| {
                    let state = shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    // A verify takes tens of microseconds; after a second something is
                    // wrong with the thread, and the caller verifies in line.
                    let (mut state, _) = shared
                        .changed
                        .wait_timeout_while(state, AHEAD_WAIT_MAX, |s| {
                            s.jobs.get(&sig).is_some_and(|j| j.id == id && j.stage == Stage::Running)
                        })
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    state.jobs.remove(&sig)
                })?
            }
            Stage::Done => state.jobs.remove(&sig)?,
        };
        (job.stage == Stage::Done && job.key == key && *job.message == *message).then_some(job.ok)
    }

    /// Forget every job (those running finish unheard).
    fn clear(&self) {
        let mut state = self.shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.jobs.clear();
        state.queue.clear();
        drop(state);
        self.shared.changed.notify_all();
    }

    /// How many jobs are verified and not yet taken.
    fn finished(&self) -> usize {
        let state = self.shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.jobs.values().filter(|j| j.stage == Stage::Done).count()
    }

    /// How many jobs are held (queued, running or done and not taken).
    fn __len__(&self) -> usize {
        self.shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).jobs.len()
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Disclosures>()?;
    m.add_function(wrap_pyfunction!(check_values, m)?)?;
    m.add_class::<Schema>()?;
    m.add_class::<Ed25519Public>()?;
    m.add_class::<Ed25519Private>()?;
    m.add_class::<VerifyAhead>()?;
    Ok(())
}
