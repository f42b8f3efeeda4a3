//! Byte-level text helpers that reproduce the Python parser's string
//! semantics exactly: Python's whitespace set, character counts of text
//! decoded with `surrogateescape`, strace's C escapes and `-y` decorations.

use std::borrow::Cow;

/// True for the ASCII bytes Python's `str.isspace()` accepts (this includes
/// the separators `\x1c`..`\x1f`, which `str.strip()` removes too).
#[inline]
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f)
}

/// True for the bytes of Python's `\w` restricted to ASCII.
#[inline]
pub fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `text.strip()` for ASCII whitespace.
pub fn strip(s: &[u8]) -> &[u8] {
    let mut a = 0;
    let mut b = s.len();
    while a < b && is_space(s[a]) {
        a += 1;
    }
    while b > a && is_space(s[b - 1]) {
        b -= 1;
    }
    &s[a..b]
}

/// The length Python gives the text `s.decode("utf-8", "surrogateescape")`.
pub fn py_len(s: &[u8]) -> usize {
    s.utf8_chunks()
        .map(|c| c.valid().chars().count() + c.invalid().len())
        .sum()
}

/// The byte offset of the first `n` characters of `s` as Python counts them
/// (`text[:n]` of the decoded text).
pub fn py_prefix(s: &[u8], n: usize) -> &[u8] {
    if s.len() <= n {
        return s;
    }
    let mut left = n;
    let mut off = 0;
    for c in s.utf8_chunks() {
        for ch in c.valid().chars() {
            if left == 0 {
                return &s[..off];
            }
            left -= 1;
            off += ch.len_utf8();
        }
        for _ in c.invalid() {
            if left == 0 {
                return &s[..off];
            }
            left -= 1;
            off += 1;
        }
    }
    &s[..off]
}

/// Find `needle` in `hay[from..to]`, last occurrence (Python `rfind`).
pub fn rfind(hay: &[u8], needle: &[u8], from: usize, to: usize) -> Option<usize> {
    let to = to.min(hay.len());
    if from > to || to - from < needle.len() {
        return None;
    }
    memchr::memmem::rfind(&hay[from..to], needle).map(|i| i + from)
}

/// Find `needle` in `hay[from..]`, first occurrence (Python `find`).
pub fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() || hay.len() - from < needle.len() {
        return None;
    }
    memchr::memmem::find(&hay[from..], needle).map(|i| i + from)
}

/// Whether `s` contains the byte `b`.
#[inline]
pub fn has(s: &[u8], b: u8) -> bool {
    s.contains(&b)
}

fn simple_escape(c: u8) -> Option<u8> {
    Some(match c {
        b'n' => b'\n',
        b't' => b'\t',
        b'r' => b'\r',
        b'v' => 0x0b,
        b'f' => 0x0c,
        b'a' => 0x07,
        b'b' => 0x08,
        b'"' => b'"',
        b'\\' => b'\\',
        b'\'' => b'\'',
        b'?' => b'?',
        _ => return None,
    })
}

/// Undo strace's C escapes (`\n`, `\303`, `\xff`, `\"` ...): the Python
/// `_unescape`, on bytes.  An unknown escape keeps its character and loses
/// the backslash; a final lone backslash stays.
pub fn unescape(s: &[u8]) -> Cow<'_, [u8]> {
    if !has(s, b'\\') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    let n = s.len();
    while i < n {
        let c = s[i];
        if c != b'\\' || i + 1 >= n {
            out.push(c);
            i += 1;
            continue;
        }
        let e = s[i + 1];
        if e == b'x' && i + 2 < n && s[i + 2].is_ascii_hexdigit() {
            let mut v = hex(s[i + 2]);
            let mut j = i + 3;
            if j < n && s[j].is_ascii_hexdigit() {
                v = v * 16 + hex(s[j]);
                j += 1;
            }
            out.push(v);
            i = j;
        } else if (b'0'..=b'7').contains(&e) {
            let mut v: u32 = 0;
            let mut j = i + 1;
            while j < n && j < i + 4 && (b'0'..=b'7').contains(&s[j]) {
                v = v * 8 + u32::from(s[j] - b'0');
                j += 1;
            }
            out.push((v & 0xff) as u8);
            i = j;
        } else {
            out.push(simple_escape(e).unwrap_or(e));
            i += 2;
        }
    }
    Cow::Owned(out)
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// A decoded `-y` decoration: `(path, text, deleted)` for the text between
/// the outer `<` and `>` (Python `_decoration`).
pub struct Decoration<'a> {
    /// The filesystem path, when the decoration names one.
    pub path: Option<Cow<'a, [u8]>>,
    /// The decoded decoration text (`socket:[4616]`, a path, ...).
    pub text: Cow<'a, [u8]>,
    /// `AT_FDCWD</gone (deleted)>`: the kernel's suffix was inside.
    pub deleted: bool,
}

/// Decode the inside of a decoration (Python `_decoration`).
pub fn decoration(inner: &[u8]) -> Decoration<'_> {
    let mut inner = inner;
    if let Some(i) = inner.iter().position(|&b| b == b'<') {
        if i > 0 && inner.last() == Some(&b'>') {
            inner = &inner[..i];
        }
    }
    let mut text = unescape(inner);
    let mut deleted = false;
    if text.ends_with(b" (deleted)") {
        text = match text {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..b.len() - 10]),
            Cow::Owned(mut v) => {
                v.truncate(v.len() - 10);
                Cow::Owned(v)
            }
        };
        deleted = true;
    }
    let is_path = text.first() == Some(&b'/') && !text.starts_with(b"/memfd:");
    Decoration {
        path: if is_path { Some(text.clone()) } else { None },
        text,
        deleted,
    }
}

/// The path of a result decoration `"<...>"` or `"<...>(deleted)"`
/// (Python `_ret_path`).
pub fn ret_path(dec: &[u8]) -> Option<Cow<'_, [u8]>> {
    let mut dec = dec;
    if dec.last() == Some(&b')') {
        dec = &dec[..dec.len().saturating_sub(9)];
    }
    if dec.len() < 2 {
        // Python: dec[1:-1] of a short text is empty
        return decoration(&[]).path;
    }
    decoration(&dec[1..dec.len() - 1]).path
}
