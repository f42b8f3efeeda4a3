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

/// Bytes copied as they are inside a JSON string: printable ASCII but `"`
/// and `\\`.
const fn plain_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        t[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    t
}
static PLAIN: [bool; 256] = plain_table();

/// A str value (bytes decoded with surrogateescape) as a JSON string.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut i = 0;
    while i < s.len() {
        // copy the run of plain bytes in one go
        let start = i;
        while i < s.len() && PLAIN[s[i] as usize] {
            i += 1;
        }
        out.extend_from_slice(&s[start..i]);
        if i >= s.len() {
            break;
        }
        let b = s[i];
        if b < 0x80 {
            char_escape(out, u32::from(b));
            i += 1;
            continue;
        }
        // non-ASCII: decode up to the next ASCII byte (surrogateescape)
        let end = s[i..]
            .iter()
            .position(|&c| c < 0x80)
            .map_or(s.len(), |k| i + k);
        for chunk in s[i..end].utf8_chunks() {
            for ch in chunk.valid().chars() {
                char_escape(out, ch as u32);
            }
            for &b in chunk.invalid() {
                u_escape(out, 0xdc00 | u32::from(b));
            }
        }
        i = end;
    }
    out.push(b'"');
}

/// An int as decimal digits (without `fmt`).
pub fn int(out: &mut Vec<u8>, v: i64) {
    let mut tmp = [0u8; 20];
    let mut k = tmp.len();
    let mut u = v.unsigned_abs();
    loop {
        k -= 1;
        tmp[k] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&tmp[k..]);
}

/// The common float of a log, a timestamp or duration in microseconds
/// (`1795816365.090711`, `0.0125`): when `f` is the double nearest to a
/// value with at most 6 decimals and its repr is not scientific, that
/// value with its trailing zeros cut is Python's repr (below 2**32 the
/// doubles are closer than 1e-6, so no shorter text names the same one).
fn micro_float(out: &mut Vec<u8>, f: f64) -> bool {
    let a = f.abs();
    if !(1e-4..4294967296.0).contains(&a) {
        return false;
    }
    let n = (a * 1e6).round();
    if n / 1e6 != a {
        return false;
    }
    let n = n as u64;
    if f < 0.0 {
        out.push(b'-');
    }
    int(out, (n / 1_000_000) as i64);
    out.push(b'.');
    let mut frac = n % 1_000_000;
    let mut width = 6;
    if frac == 0 {
        out.push(b'0');
        return true;
    }
    while frac.is_multiple_of(10) {
        frac /= 10;
        width -= 1;
    }
    let mut tmp = [b'0'; 6];
    let mut k = width;
    while frac > 0 && k > 0 {
        k -= 1;
        tmp[k] = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    out.extend_from_slice(&tmp[..width]);
    true
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
    if !micro_float(out, f) {
        shortest_float(out, f);
    }
}

/// `float.__repr__` of a finite non-zero float, from Rust's shortest
/// round-trip digits.
fn shortest_float(out: &mut Vec<u8>, f: f64) {
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
        Value::Int(PyInt::Small(i)) => int(out, *i),
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
        assert_eq!(f(0.0125), "0.0125");
        assert_eq!(f(1796238368.7432601), "1796238368.7432601");
        assert_eq!(f(1796238368.74326), "1796238368.74326");
        assert_eq!(f(-3.5), "-3.5");
        assert_eq!(f(4294967295.5), "4294967295.5");
        assert_eq!(f(1e10), "10000000000.0");
    }

    #[test]
    fn micro_floats_agree_with_the_general_path() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 0..300_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = match i % 3 {
                0 => (x % 4_000_000_000_000_000) as f64 / 1e6,
                1 => (x % 100_000_000) as f64 / 1e6 + 1.796e9,
                _ => f64::from_bits(x) % 5e9,
            };
            if !f.is_finite() || f == 0.0 {
                continue;
            }
            a.clear();
            b.clear();
            if micro_float(&mut a, f) {
                shortest_float(&mut b, f);
                assert_eq!(a, b, "{f:e}");
            }
        }
    }

    #[test]
    fn ints_as_python() {
        let mut o = Vec::new();
        for v in [0, 7, -7, 1234567890, i64::MIN, i64::MAX] {
            o.clear();
            int(&mut o, v);
            assert_eq!(String::from_utf8(o.clone()).unwrap(), v.to_string());
        }
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
