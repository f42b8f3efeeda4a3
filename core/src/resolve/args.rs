//! Argument text helpers: the Python `split_args`, `decode_string`,
//! `decode_fd_full`, the resolver's lazy `Args`, `int()` and
//! `posixpath.normpath`, on bytes.

use std::borrow::Cow;

use crate::parse::text::{decoration, is_space, strip, unescape};

/// `AT_FDCWD` as the kernel numbers it.
pub const AT_FDCWD: i64 = -100;

/// An integer as Python computes it: small, or too big for 64 bits (then
/// the decimal digits are kept for the output and logic sees a saturated
/// value).
#[derive(Clone, Debug, PartialEq)]
pub enum PyInt {
    /// Fits in an i64.
    Small(i64),
    /// Bigger: the decimal text (with its sign).
    Big(String),
}

impl PyInt {
    /// The value for comparisons (saturated when big).
    pub fn val(&self) -> i64 {
        match self {
            PyInt::Small(v) => *v,
            PyInt::Big(s) => {
                if s.starts_with('-') {
                    i64::MIN
                } else {
                    i64::MAX
                }
            }
        }
    }
}

fn digit_val(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        b'a'..=b'z' => Some(u32::from(b - b'a') + 10),
        b'A'..=b'Z' => Some(u32::from(b - b'A') + 10),
        _ => None,
    }
}

/// Python's `int(text, base)` for base 10, 16 or 0 (ASCII): whitespace
/// around, a sign, `0x`/`0o`/`0b` prefixes, single underscores between
/// digits.  `None` where Python raises ValueError.
pub fn py_int(text: &[u8], base: u32) -> Option<PyInt> {
    let s = strip(text);
    let (neg, mut s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut base = base;
    let mut prefixed = false;
    if s.len() >= 2 && s[0] == b'0' {
        let p = s[1].to_ascii_lowercase();
        let pb = match p {
            b'x' => 16,
            b'o' => 8,
            b'b' => 2,
            _ => 0,
        };
        if pb != 0 && (base == 0 || base == pb) {
            base = pb;
            s = &s[2..];
            prefixed = true;
        }
    }
    if base == 0 {
        // no prefix: decimal, and no leading zeros unless all zeros
        base = 10;
        if s.first() == Some(&b'0') && s.iter().any(|&b| b != b'0' && b != b'_') {
            return None;
        }
    }
    if prefixed && s.first() == Some(&b'_') {
        s = &s[1..];
    }
    if s.is_empty() || s[0] == b'_' || s[s.len() - 1] == b'_' {
        return None;
    }
    let mut v: i128 = 0;
    let mut big = false;
    let mut prev_us = false;
    let mut digits = Vec::with_capacity(s.len());
    for &b in s {
        if b == b'_' {
            if prev_us {
                return None;
            }
            prev_us = true;
            continue;
        }
        prev_us = false;
        let d = digit_val(b).filter(|&d| d < base)?;
        digits.push(d);
        if !big {
            v = v * i128::from(base) + i128::from(d);
            if v > i128::from(i64::MAX) + 1 {
                big = true;
            }
        }
    }
    let v = if neg { -v } else { v };
    if !big {
        if let Ok(x) = i64::try_from(v) {
            return Some(PyInt::Small(x));
        }
    }
    Some(PyInt::Big(to_decimal(&digits, base, neg)))
}

fn to_decimal(digits: &[u32], base: u32, neg: bool) -> String {
    // schoolbook base conversion, little-endian base-1e9 limbs
    let mut limbs: Vec<u64> = vec![0];
    for &d in digits {
        let mut carry = u64::from(d);
        for l in limbs.iter_mut() {
            let x = *l * u64::from(base) + carry;
            *l = x % 1_000_000_000;
            carry = x / 1_000_000_000;
        }
        while carry > 0 {
            limbs.push(carry % 1_000_000_000);
            carry /= 1_000_000_000;
        }
    }
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    let mut it = limbs.iter().rev();
    if let Some(first) = it.next() {
        s.push_str(&first.to_string());
    }
    for l in it {
        s.push_str(&format!("{l:09}"));
    }
    s
}

/// The resolver's `_int`: `int(token, 0)`, else a leading `-?\d+`.
pub fn loose_int(token: &[u8]) -> Option<PyInt> {
    if let Some(v) = py_int(token, 0) {
        return Some(v);
    }
    let neg = token.first() == Some(&b'-');
    let a = usize::from(neg);
    let e = a + token[a..].iter().take_while(|b| b.is_ascii_digit()).count();
    if e == a {
        return None;
    }
    py_int(&token[..e], 10)
}

/// `decode_string`: `(text, truncated)` of a strace C-string token.
pub fn decode_string(token: &[u8]) -> Option<(Cow<'_, [u8]>, bool)> {
    let t = strip(token);
    let n = t.len();
    if n < 2 || t[0] != b'"' {
        return None;
    }
    let (end, cut) = if t.ends_with(b"\"...") && n >= 5 {
        (n - 3, true)
    } else if t[n - 1] == b'"' {
        (n, false)
    } else {
        return None;
    };
    if end < 2 {
        return None;
    }
    let body = &t[1..end - 1];
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'"' => return None,
            b'\\' => {
                if i + 1 >= body.len() {
                    return None;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    Some((unescape(body), cut))
}

/// `decode_fd_full`: (fd, path, deleted) of an fd token; the decoration
/// text itself is not needed by the resolver.
pub fn decode_fd(token: &[u8]) -> Option<(i64, Option<Cow<'_, [u8]>>)> {
    let t = strip(token);
    let (fd, rest) = if let Some(r) = t.strip_prefix(b"AT_FDCWD") {
        (AT_FDCWD, r)
    } else {
        let neg = t.first() == Some(&b'-');
        let a = usize::from(neg);
        let e = a + t[a..].iter().take_while(|b| b.is_ascii_digit()).count();
        if e == a || e - a > 10 {
            return None;
        }
        let v = t[a..e]
            .iter()
            .fold(0i64, |v, &b| v * 10 + i64::from(b - b'0'));
        (if neg { -v } else { v }, &t[e..])
    };
    if rest.is_empty() {
        return Some((fd, None));
    }
    if rest[0] != b'<' {
        return None;
    }
    let inner = if rest.len() >= 2 && rest.ends_with(b">") {
        &rest[1..rest.len() - 1]
    } else if rest.len() >= 11 && rest.ends_with(b">(deleted)") {
        &rest[1..rest.len() - 10]
    } else {
        return None;
    };
    Some((fd, decoration(inner).path))
}

/// `split_args`: the top-level comma-separated tokens, stripped.
pub fn split_args(args: &[u8]) -> Vec<&[u8]> {
    if strip(args).is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let n = args.len();
    let (mut start, mut depth, mut angle) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while i < n {
        let c = args[i];
        // _SIG: \\. | "(?:[^"\\]|\\.)*" | [][{}()<>,]
        if c == b'\\' {
            if i + 1 < n {
                i += 2;
                continue;
            }
            i += 1;
            continue;
        }
        if c == b'"' {
            let mut j = i + 1;
            let mut closed = None;
            while j < n {
                match args[j] {
                    b'"' => {
                        closed = Some(j);
                        break;
                    }
                    b'\\' if j + 1 < n => j += 2,
                    b'\\' => break,
                    _ => j += 1,
                }
            }
            if let Some(j) = closed {
                i = j + 1;
            } else {
                i += 1;
            }
            continue;
        }
        if !matches!(
            c,
            b'[' | b']' | b'{' | b'}' | b'(' | b')' | b'<' | b'>' | b','
        ) {
            i += 1;
            continue;
        }
        let p = i;
        i += 1;
        if angle > 0 {
            if c == b'<' {
                angle += 1;
            } else if c == b'>' {
                if p > 0 && args[p - 1] == b'-' && p + 1 < n {
                    let q = args[p + 1];
                    if q == b'[' || q == b'_' || q.is_ascii_alphanumeric() {
                        continue;
                    }
                }
                angle -= 1;
            }
            continue;
        }
        match c {
            b',' if depth == 0 => {
                out.push(strip(&args[start..p]));
                start = p + 1;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'<' => {
                if (p + 1 < n && args[p + 1] == b'<') || (p > 0 && args[p - 1] == b'<') {
                    continue;
                }
                angle = 1;
            }
            _ => {}
        }
    }
    out.push(strip(&args[start..]));
    out
}

fn is_plain(b: u8) -> bool {
    !matches!(
        b,
        b',' | b'"' | b'<' | b'>' | b'{' | b'}' | b'[' | b']' | b'(' | b')'
    )
}

/// `_TOK` at `i`: the end of the token.
fn tok_at(s: &[u8], i: usize) -> Option<(usize, bool)> {
    let n = s.len();
    let c = *s.get(i)?;
    if c == b'"' {
        let mut j = i + 1;
        while j < n && s[j] != b'"' {
            if s[j] == b'\\' {
                if j + 1 < n && s[j + 1] != b'\n' {
                    j += 2;
                    continue;
                }
                return None;
            }
            j += 1;
        }
        if j >= n {
            return None;
        }
        let e = j + 1;
        // (?:\.\.\.)? : returned as an optional longer end
        return Some((e, s[e..].starts_with(b"...")));
    }
    if !is_plain(c) || is_space(c) {
        return None;
    }
    let mut j = i + 1;
    while j < n && is_plain(s[j]) {
        j += 1;
    }
    Some((j, false))
}

/// The decoration part of a plain token at `j` (`<...>(deleted)?`).
fn tok_decor(s: &[u8], j: usize) -> Option<usize> {
    let n = s.len();
    if s.get(j) != Some(&b'<') {
        return None;
    }
    let mut k = j + 1;
    loop {
        while k < n && !matches!(s[k], b'<' | b'>' | b'\\') {
            k += 1;
        }
        if k < n && s[k] == b'\\' {
            if k + 1 < n && s[k + 1] != b'\n' {
                k += 2;
                continue;
            }
            break;
        }
        if k < n && s[k] == b'<' {
            let mut e = k + 1;
            while e < n && s[e] != b'<' && s[e] != b'>' {
                e += 1;
            }
            if e < n && s[e] == b'>' {
                k = e + 1;
                continue;
            }
        }
        break;
    }
    if s.get(k) != Some(&b'>') {
        return None;
    }
    k += 1;
    if s[k..].starts_with(b"(deleted)") {
        k += 9;
    }
    Some(k)
}

/// `_SEP` at `i`: `\s*(?:,\s*|\Z)`.
fn sep_at(s: &[u8], i: usize) -> Option<usize> {
    let mut k = i;
    while k < s.len() && is_space(s[k]) {
        k += 1;
    }
    if k == s.len() {
        return Some(k);
    }
    if s[k] != b',' {
        return None;
    }
    k += 1;
    while k < s.len() && is_space(s[k]) {
        k += 1;
    }
    Some(k)
}

/// `_LEAD`: up to five leading simple tokens and where the match ended.
fn lead(s: &[u8]) -> Option<(Vec<&[u8]>, usize)> {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let mut toks = Vec::new();
    for _ in 0..5 {
        let Some(next) = tok_sep(s, i) else { break };
        toks.push(&s[i..next.0]);
        i = next.1;
    }
    if toks.is_empty() {
        None
    } else {
        Some((toks, i))
    }
}

/// One `TOK SEP`: (token end, separator end).
fn tok_sep(s: &[u8], i: usize) -> Option<(usize, usize)> {
    let (e, dots) = tok_at(s, i)?;
    if s[i] == b'"' {
        if dots {
            if let Some(k) = sep_at(s, e + 3) {
                return Some((e + 3, k));
            }
        }
        return sep_at(s, e).map(|k| (e, k));
    }
    if let Some(d) = tok_decor(s, e) {
        if let Some(k) = sep_at(s, d) {
            return Some((d, k));
        }
        // without "(deleted)"
        if s[..d].ends_with(b">(deleted)") {
            if let Some(k) = sep_at(s, d - 9) {
                return Some((d - 9, k));
            }
        }
    }
    sep_at(s, e).map(|k| (e, k))
}

/// The arguments of a call, split lazily as the Python `Args` does: the
/// leading simple tokens first, the full splitter when an index goes past
/// them.  The two can cut differently, so which one served an index is
/// kept exactly as in Python.
pub struct Args<'a> {
    /// The raw argument text.
    pub text: &'a [u8],
    toks: Option<Vec<&'a [u8]>>,
    full: bool,
}

/// An index past the last argument (Python's IndexError).
#[derive(Debug)]
pub struct Missing;

impl<'a> Args<'a> {
    /// Wrap an argument text.
    pub fn new(text: &'a [u8]) -> Self {
        Args {
            text,
            toks: None,
            full: false,
        }
    }

    fn split_all(&mut self) {
        self.toks = Some(split_args(self.text));
        self.full = true;
    }

    /// `toks[i]`.
    pub fn at(&mut self, i: usize) -> Result<&'a [u8], Missing> {
        if self.toks.is_none() {
            match lead(self.text) {
                None => self.split_all(),
                Some((t, end)) => {
                    self.full = end >= self.text.len();
                    self.toks = Some(t);
                }
            }
        }
        let toks = self.toks.as_ref().ok_or(Missing)?;
        if i < toks.len() {
            return Ok(toks[i]);
        }
        if !self.full {
            self.split_all();
            return self
                .toks
                .as_ref()
                .and_then(|t| t.get(i).copied())
                .ok_or(Missing);
        }
        Err(Missing)
    }

    /// `toks.get(i)`: `""` past the end.
    pub fn get(&mut self, i: usize) -> &'a [u8] {
        self.at(i).unwrap_or(b"")
    }
}

/// `posixpath.normpath` (bytes).
pub fn normpath(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let initial = if path.starts_with(b"/") {
        if path.starts_with(b"//") && !path.starts_with(b"///") {
            2
        } else {
            1
        }
    } else {
        0
    };
    let mut comps: Vec<&[u8]> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        if c.is_empty() || c == b"." {
            continue;
        }
        if c != b".." || (initial == 0 && comps.is_empty()) || comps.last() == Some(&&b".."[..]) {
            comps.push(c);
        } else if !comps.is_empty() {
            comps.pop();
        }
    }
    let mut out = vec![b'/'; initial];
    out.extend_from_slice(&comps.join(&b'/'));
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// The resolver's `normalize`: lexical normalisation when needed.
pub fn normalize(path: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    if !needs_norm(&path) {
        return path;
    }
    let mut p = normpath(&path);
    if p.starts_with(b"//") {
        let k = p.iter().take_while(|&&b| b == b'/').count();
        p.drain(..k - 1);
    }
    Cow::Owned(p)
}

/// `//|/\.\.?(?:/|\Z)|./\Z`.
fn needs_norm(p: &[u8]) -> bool {
    let n = p.len();
    for i in 0..n {
        if p[i] == b'/' {
            if p.get(i + 1) == Some(&b'/') {
                return true;
            }
            if p.get(i + 1) == Some(&b'.') {
                let j = if p.get(i + 2) == Some(&b'.') {
                    i + 3
                } else {
                    i + 2
                };
                if j == n || p[j] == b'/' {
                    return true;
                }
            }
        }
    }
    n >= 2 && p[n - 1] == b'/' && p[n - 2] != b'\n'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(py_int(b"0x1f", 0), Some(PyInt::Small(31)));
        assert_eq!(py_int(b"010", 0), None);
        assert_eq!(py_int(b"010", 10), Some(PyInt::Small(10)));
        assert_eq!(py_int(b"1_0", 10), Some(PyInt::Small(10)));
        assert_eq!(
            py_int(b"99999999999999999999", 10),
            Some(PyInt::Big("99999999999999999999".into()))
        );
        assert_eq!(loose_int(b"-5abc"), Some(PyInt::Small(-5)));
    }

    #[test]
    fn norm() {
        assert_eq!(normpath(b"/a/./b/../c/"), b"/a/c");
        assert_eq!(normpath(b"//a"), b"//a");
        assert_eq!(normpath(b"/.."), b"/");
        assert_eq!(&*normalize(Cow::Borrowed(b"///a//b")), b"/a/b");
    }

    #[test]
    fn split() {
        let v = split_args(b"3</a,b>, \"x,y\", {a, b}, [1, 2]");
        assert_eq!(v.len(), 4);
    }
}
