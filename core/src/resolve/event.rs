//! Events as the Python importer builds them: dicts whose keys keep their
//! insertion order (assigning an existing key keeps its place, popping
//! removes it), holding JSON-like values.

use std::sync::Arc;

use super::args::PyInt;

/// A value of an event field.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    Null,
    /// `True`/`False`.
    Bool(bool),
    /// An int.
    Int(PyInt),
    /// A float.
    Float(f64),
    /// A str (bytes, decoded with surrogateescape on the way out).
    Str(Vec<u8>),
    /// A constant str (event types, syscall names): no allocation.
    Sym(&'static [u8]),
    /// A shared str (process keys).
    Shared(Arc<[u8]>),
    /// A list.
    List(Vec<Value>),
    /// A nested dict (the `lock` field).
    Map(Event),
}

impl Value {
    /// A small int.
    pub fn int(v: i64) -> Value {
        Value::Int(PyInt::Small(v))
    }

    /// A str from bytes.
    pub fn str(b: &[u8]) -> Value {
        Value::Str(b.to_vec())
    }

    /// An optional str (None -> Null).
    pub fn opt_str(b: Option<&[u8]>) -> Value {
        b.map_or(Value::Null, Value::str)
    }

    /// An optional float.
    pub fn opt_float(v: Option<f64>) -> Value {
        v.map_or(Value::Null, Value::Float)
    }

    /// The int value when this is an int (Python `isinstance(v, int)`).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(i.val()),
            _ => None,
        }
    }

    /// The bytes when this is a str.
    pub fn as_str(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s),
            Value::Sym(s) => Some(s),
            Value::Shared(s) => Some(s),
            _ => None,
        }
    }

    /// A syscall name: a constant for the names fsrace traces.
    pub fn name(b: &[u8]) -> Value {
        match crate::resolve::NAMES.iter().find(|n| **n == b) {
            Some(n) => Value::Sym(n),
            None => Value::str(b),
        }
    }

    /// Python's `v == 0 or v is None`.
    pub fn is_zero_or_none(&self) -> bool {
        matches!(self, Value::Null | Value::Int(PyInt::Small(0)))
    }
}

/// An ordered dict with `&'static str` keys.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Event {
    /// The fields in insertion order.
    pub fields: Vec<(&'static str, Value)>,
}

impl Event {
    /// An empty event with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Event {
            fields: Vec::with_capacity(n),
        }
    }

    /// Append a field known to be new (building an event).
    pub fn push(&mut self, k: &'static str, v: Value) {
        self.fields.push((k, v));
    }

    /// `ev[k] = v`.
    pub fn set(&mut self, k: &'static str, v: Value) {
        for f in self.fields.iter_mut() {
            if f.0 == k {
                f.1 = v;
                return;
            }
        }
        self.fields.push((k, v));
    }

    /// `ev.get(k)`.
    pub fn get(&self, k: &str) -> Option<&Value> {
        self.fields.iter().find(|f| f.0 == k).map(|f| &f.1)
    }

    /// `ev.pop(k, None)`.
    pub fn pop(&mut self, k: &str) -> Option<Value> {
        let i = self.fields.iter().position(|f| f.0 == k)?;
        Some(self.fields.remove(i).1)
    }

    /// `ev.get(k) is not None` for a key that may hold None.
    pub fn has_value(&self, k: &str) -> bool {
        !matches!(self.get(k), None | Some(Value::Null))
    }

    /// `ev.get(k)` as a str.
    pub fn get_str(&self, k: &str) -> Option<&[u8]> {
        self.get(k).and_then(Value::as_str)
    }

    /// `ev.get(k)` as an int.
    pub fn get_int(&self, k: &str) -> Option<i64> {
        self.get(k).and_then(Value::as_int)
    }
}
