//! Events as JSON text, byte for byte what Python's
//! `json.JSONEncoder(separators=(",", ":")).encode` writes for the same
//! dict: `ensure_ascii` escapes (`\uXXXX`, lowercase; bytes that are not
//! UTF-8 as the `\udcXX` surrogates `surrogateescape` gives them), floats
//! as `float.__repr__` (`1e-05`, `1795816365.090711`, `Infinity`).

use std::io::Write;

use crate::resolve::args::PyInt;
use crate::resolve::event::{Event, Value};

const HEX: &[u8; 16] = b"0123456789abcdef";

fn u_escape(out: &mut Vec<u8>, c: u32) {
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((c >> shift) & 0xf) as usize]);
    }
}

fn char_escape(out: &mut Vec<u8>, c: u32) {
    match c {
        0x22 => out.extend_from_slice(b"\\\""),
        0x5c => out.extend_from_slice(b"\\\\"),
        0x0a => out.extend_from_slice(b"\\n"),
        0x0d => out.extend_from_slice(b"\\r"),
        0x09 => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        0x20..=0x7e => out.push(c as u8),
        0x10000.. => {
            let v = c - 0x10000;
            u_escape(out, 0xd800 | (v >> 10));
            u_escape(out, 0xdc00 | (v & 0x3ff));
        }
        _ => u_escape(out, c),
    }
}

/// A str value (bytes decoded with surrogateescape) as a JSON string.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    if s.iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.extend_from_slice(s);
    } else {
        for chunk in s.utf8_chunks() {
            for ch in chunk.valid().chars() {
                char_escape(out, ch as u32);
            }
            for &b in chunk.invalid() {
                u_escape(out, 0xdc00 | u32::from(b));
            }
        }
    }
    out.push(b'"');
}

/// `float.__repr__` (and JSON's `NaN`/`Infinity`).
pub fn float(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    if f == 0.0 {
        out.extend_from_slice(if f.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
        return;
    }
    // shortest round-trip digits: "d.ddde±x", formatted on the stack
    let mut tmp = [0u8; 48];
    let mut cur = std::io::Cursor::new(&mut tmp[..]);
    let _ = write!(cur, "{:e}", f.abs());
    let len = cur.position() as usize;
    let e = &tmp[..len];
    let k = e.iter().position(|&b| b == b'e').unwrap_or(len);
    let exp: i32 = std::str::from_utf8(&e[(k + 1).min(len)..])
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 40];
    let mut n_digits = 0;
    for &b in &e[..k] {
        if b.is_ascii_digit() && n_digits < digits.len() {
            digits[n_digits] = b;
            n_digits += 1;
        }
    }
    let digits = &digits[..n_digits];
    if f < 0.0 {
        out.push(b'-');
    }
    let n = digits.len() as i32;
    // Python repr: scientific when the decimal exponent is < -4 or >= 16
    if !(-4..16).contains(&exp) {
        out.push(digits[0]);
        if n > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(a.to_string().as_bytes());
    } else if exp < 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..(-exp - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
    } else {
        let point = (exp + 1) as usize;
        if digits.len() > point {
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..]);
        } else {
            out.extend_from_slice(digits);
            for _ in 0..(point - digits.len()) {
                out.push(b'0');
            }
            out.extend_from_slice(b".0");
        }
    }
}

/// One value.
pub fn value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(PyInt::Small(i)) => {
            let _ = write!(out, "{i}");
        }
        Value::Int(PyInt::Big(s)) => out.extend_from_slice(s.as_bytes()),
        Value::Float(f) => float(out, *f),
        Value::Str(s) => string(out, s),
        Value::Sym(s) => string(out, s),
        Value::Shared(s) => string(out, s),
        Value::List(items) => {
            out.push(b'[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, it);
            }
            out.push(b']');
        }
        Value::Map(ev) => event(out, ev),
    }
}

/// One event (a dict) as a JSON object, keys in insertion order.
pub fn event(out: &mut Vec<u8>, ev: &Event) {
    out.push(b'{');
    for (i, (k, v)) in ev.fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, k.as_bytes());
        out.push(b':');
        value(out, v);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> String {
        let mut o = Vec::new();
        float(&mut o, x);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn floats_as_python_repr() {
        assert_eq!(f(1795816365.090711), "1795816365.090711");
        assert_eq!(f(1e-05), "1e-05");
        assert_eq!(f(0.0001), "0.0001");
        assert_eq!(f(1e16), "1e+16");
        assert_eq!(f(123.0), "123.0");
        assert_eq!(f(-2.5e-7), "-2.5e-07");
        assert_eq!(f(1.5e300), "1.5e+300");
    }

    #[test]
    fn strings_escaped() {
        let mut o = Vec::new();
        string(&mut o, "a\"\\\n\u{7f}é\u{1F600}".as_bytes());
        string(&mut o, b"\xff");
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "\"a\\\"\\\\\\n\\u007f\\u00e9\\ud83d\\ude00\"\"\\udcff\""
        );
    }
}
