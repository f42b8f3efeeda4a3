//! The result part of a call line: `_RESULT` (strict) and the tail of
//! `_LOOSE_CALL`, as scanners anchored at the end of the line.

/// The pieces of a strict result.
pub struct ResultPart<'a> {
    /// The return token.
    pub ret: &'a [u8],
    /// The raw decoration of a returned fd (`<...>` plus `(deleted)`).
    pub dec: Option<&'a [u8]>,
    /// The errno name.
    pub errno: Option<&'a [u8]>,
    /// The `-T` duration text.
    pub dur: Option<&'a [u8]>,
}

fn run(s: &[u8], i: usize, pred: impl Fn(u8) -> bool) -> usize {
    let mut j = i;
    while j < s.len() && pred(s[j]) {
        j += 1;
    }
    j
}

/// `(?:\ <(\d+\.\d+)>)?\n?\Z` on `s[i..]`: `Some(dur)` when it matches.
fn end_at(s: &[u8], i: usize) -> Option<Option<&[u8]>> {
    let t = s.get(i..)?;
    if t.is_empty() || t == b"\n" {
        return Some(None);
    }
    let t = t.strip_suffix(b"\n").unwrap_or(t);
    let d = t.strip_prefix(b" <")?.strip_suffix(b">")?;
    let a = run(d, 0, |b| b.is_ascii_digit());
    if a > 0 && d.get(a) == Some(&b'.') {
        let e = run(d, a + 1, |b| b.is_ascii_digit());
        if e > a + 1 && e == d.len() {
            return Some(Some(d));
        }
    }
    None
}

/// `\(.*\)` then the end, the `(` at `open`: the duration when it matches.
/// The greedy `.*` takes the last `)` after which the end matches.
fn paren_end(s: &[u8], open: usize) -> Option<Option<&[u8]>> {
    let mut best: Option<(usize, Option<&[u8]>)> = None;
    let n = s.len();
    let mut cands = [None; 3];
    if n >= 1 && s[n - 1] == b')' {
        cands[0] = Some(n - 1);
    }
    if n >= 2 && s[n - 2] == b')' && s[n - 1] == b'\n' {
        cands[1] = Some(n - 2);
    }
    // before a final " <d.d>" (and newline)
    let m = if s.last() == Some(&b'\n') { n - 1 } else { n };
    if m >= 1 && s[m - 1] == b'>' {
        if let Some(q) = s[..m].iter().rposition(|&b| b == b'<') {
            if q >= 2 && s[q - 1] == b' ' && s[q - 2] == b')' {
                cands[2] = Some(q - 2);
            }
        }
    }
    for p in cands.into_iter().flatten() {
        if p > open && best.is_none_or(|(b, _)| p > b) {
            if let Some(d) = end_at(s, p + 1) {
                best = Some((p, d));
            }
        }
    }
    best.map(|b| b.1)
}

/// The decoration `<(?:->(?=[\w\[])|[^<>]|<[^<>]*+>)*+>(?:\(deleted\))?`
/// at `i`: its end.
fn decor_at(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b'<') {
        return None;
    }
    let mut j = i + 1;
    let n = s.len();
    while j < n {
        let c = s[j];
        if c == b'-'
            && s.get(j + 1) == Some(&b'>')
            && s.get(j + 2)
                .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'[')
        {
            j += 2;
        } else if c != b'<' && c != b'>' {
            j += 1;
        } else if c == b'<' {
            let e = run(s, j + 1, |b| b != b'<' && b != b'>');
            if s.get(e) == Some(&b'>') {
                j = e + 1;
            } else {
                break;
            }
        } else {
            break;
        }
    }
    if s.get(j) != Some(&b'>') {
        return None;
    }
    j += 1;
    if s[j..].starts_with(b"(deleted)") {
        j += 9;
    }
    Some(j)
}

/// `_RESULT` matched at `i` up to the end of the line.
pub fn result_at(s: &[u8], i: usize) -> Option<ResultPart<'_>> {
    // (-?\d+|0x[0-9a-fA-F]+|\?)
    let mut j = i;
    let c = *s.get(i)?;
    let mut ok = false;
    if c == b'-' || c.is_ascii_digit() {
        let a = if c == b'-' { i + 1 } else { i };
        let e = run(s, a, |b| b.is_ascii_digit());
        if e > a {
            j = e;
            ok = true;
        }
    }
    let mut tries: [Option<usize>; 2] = [if ok { Some(j) } else { None }, None];
    if c == b'0' && s.get(i + 1) == Some(&b'x') {
        let e = run(s, i + 2, |b| b.is_ascii_hexdigit());
        if e > i + 2 {
            tries[1] = Some(e);
        }
    } else if c == b'?' {
        tries[1] = Some(i + 1);
    }
    for e in tries.into_iter().flatten() {
        if let Some(r) = after_ret(s, i, e) {
            return Some(r);
        }
    }
    None
}

fn after_ret(s: &[u8], i: usize, e: usize) -> Option<ResultPart<'_>> {
    let mut j = e;
    let mut dec = None;
    if let Some(d) = decor_at(s, j) {
        dec = Some(&s[j..d]);
        j = d;
    }
    let (errno, dur) = errno_end(s, j)?;
    Some(ResultPart {
        ret: &s[i..e],
        dec,
        errno,
        dur,
    })
}

/// `(?:\ ([A-Z][A-Z0-9_]*)\ \(.*\)|\ \(.*\))?` then the end.
type Tail<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

fn errno_end(s: &[u8], j: usize) -> Option<Tail<'_>> {
    if s.get(j) == Some(&b' ') {
        if s.get(j + 1).is_some_and(u8::is_ascii_uppercase) {
            let e = run(s, j + 2, |b| {
                b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'
            });
            if s.get(e) == Some(&b' ') && s.get(e + 1) == Some(&b'(') {
                if let Some(d) = paren_end(s, e + 1) {
                    return Some((Some(&s[j + 1..e]), d));
                }
            }
        } else if s.get(j + 1) == Some(&b'(') {
            if let Some(d) = paren_end(s, j + 1) {
                return Some((None, d));
            }
        }
    }
    end_at(s, j).map(|d| (None, d))
}

/// The tail of `_LOOSE_CALL` after `(\S+)` ending at `j`:
/// `(?:\ ([A-Z][A-Z0-9_]*)\ \(.*?)?(?:\ <(\d+\.\d+)>)?\Z`.
pub fn loose_tail(s: &[u8], j: usize) -> Option<Tail<'_>> {
    let n = s.len();
    if s.get(j) == Some(&b' ') && s.get(j + 1).is_some_and(u8::is_ascii_uppercase) {
        let e = run(s, j + 2, |b| {
            b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'
        });
        if s.get(e) == Some(&b' ') && s.get(e + 1) == Some(&b'(') {
            // the lazy .*? stops at the first place where the end matches:
            // a final " <d.d>" starting at or after e + 2, else the end
            let dur = dur_suffix(s).filter(|&(q, _)| q >= e + 2).map(|(_, d)| d);
            return Some((Some(&s[j + 1..e]), dur));
        }
    }
    if j == n {
        return Some((None, None));
    }
    match dur_suffix(s) {
        Some((q, d)) if q == j => Some((None, Some(d))),
        _ => None,
    }
}

/// A final `" <\d+\.\d+>"`: its start and the number.
fn dur_suffix(s: &[u8]) -> Option<(usize, &[u8])> {
    let t = s.strip_suffix(b">")?;
    let q = t.iter().rposition(|&b| b == b'<')?;
    if q == 0 || s[q - 1] != b' ' {
        return None;
    }
    let d = &t[q + 1..];
    let a = run(d, 0, |b| b.is_ascii_digit());
    if a > 0 && d.get(a) == Some(&b'.') {
        let e = run(d, a + 1, |b| b.is_ascii_digit());
        if e > a + 1 && e == d.len() {
            return Some((q - 1, d));
        }
    }
    None
}
