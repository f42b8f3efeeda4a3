//! The strace line parser: one line of `strace` text output in, a
//! [`Line`] out, or `None` when strace does not write such a line.
//!
//! This is a transcription of `tracer/strace_parse.py` (the reference; its
//! docstring lists the shapes strace prints) that works on bytes and never
//! panics.  The Python regular expressions are replaced by hand-written
//! scanners whose choices are the ones the backtracking engine makes; the
//! comments name the expression each function stands for.  Character
//! classes are ASCII: `\d`/`\w` of valid non-ASCII UTF-8 (which strace
//! never prints outside quoted strings, where it escapes them) is the one
//! place where the two parsers can differ.

mod result;
pub mod text;

use std::borrow::Cow;

use result::{result_at, ResultPart};
use text::{is_space, is_word, py_len, rfind, strip};

/// Lines longer than this (in characters) skip the one-expression fast path
/// (Python `_FAST_MAX`).
pub const FAST_MAX: usize = 4096;

/// What a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A complete call: `name(args) = ret`.
    Call,
    /// The second half of a call: `<... name resumed>args) = ret`.
    Resumed,
    /// The first half: `name(args <unfinished ...>`.
    Unfinished,
    /// A call cut by a detach, or a bare `<detached ...>`.
    Detached,
    /// `--- SIGCHLD {...} ---` or `--- stopped by SIGSTOP ---`.
    Signal,
    /// `+++ exited with N +++`.
    Exited,
    /// `+++ killed by SIG +++`.
    Killed,
    /// Other strace messages (`strace: ...`, `+++ superseded ... +++`).
    Info,
    /// `strace: Process N attached`.
    Attached,
}

impl Kind {
    /// The name the Python parser uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Call => "call",
            Kind::Resumed => "resumed",
            Kind::Unfinished => "unfinished",
            Kind::Detached => "detached",
            Kind::Signal => "signal",
            Kind::Exited => "exited",
            Kind::Killed => "killed",
            Kind::Info => "info",
            Kind::Attached => "attached",
        }
    }
}

/// The timestamp style of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsKind {
    /// `-t`/`-tt`: seconds since midnight.
    Clock,
    /// `-ttt`: seconds since the epoch.
    Unix,
    /// `-r`: seconds since the previous line.
    Relative,
}

impl TsKind {
    /// The name the Python parser uses.
    pub fn as_str(self) -> &'static str {
        match self {
            TsKind::Clock => "clock",
            TsKind::Unix => "unix",
            TsKind::Relative => "relative",
        }
    }
}

/// One parsed line; the fields of the Python `ParsedLine`.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// The pid column (`-o` or `[pid N]`).
    pub pid: Option<i64>,
    /// The timestamp in seconds.
    pub ts: Option<f64>,
    /// The timestamp style.
    pub ts_kind: Option<TsKind>,
    /// What the line is.
    pub kind: Kind,
    /// Syscall or signal name.
    pub name: Option<&'a [u8]>,
    /// The raw argument text (or signal info, or info text).
    pub args: &'a [u8],
    /// The return token.
    pub ret: Option<&'a [u8]>,
    /// The decoded path decoration of the result.
    pub ret_path: Option<Cow<'a, [u8]>>,
    /// The errno name.
    pub errno: Option<&'a [u8]>,
    /// The `-T` duration.
    pub duration: Option<f64>,
    /// The exit status.
    pub status: Option<i64>,
    /// `(core dumped)`.
    pub core: bool,
    /// A pid named in the text (`<pid changed to N ...>`, `Process N`, ...).
    pub pid_in_text: Option<i64>,
}

impl<'a> Line<'a> {
    fn new(pid: Option<i64>, ts: Option<(f64, TsKind)>, kind: Kind) -> Self {
        Line {
            pid,
            ts: ts.map(|t| t.0),
            ts_kind: ts.map(|t| t.1),
            kind,
            name: None,
            args: b"",
            ret: None,
            ret_path: None,
            errno: None,
            duration: None,
            status: None,
            core: false,
            pid_in_text: None,
        }
    }
}

/// Parse a run of ASCII digits (at most 10 of them, so it fits).
fn digits(s: &[u8]) -> i64 {
    s.iter().fold(0i64, |v, &b| v * 10 + i64::from(b - b'0'))
}

fn float(s: &[u8]) -> f64 {
    // the slice is `\d+(\.\d+)?`, always a valid float literal
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(f64::NAN)
}

fn run(s: &[u8], i: usize, pred: impl Fn(u8) -> bool) -> usize {
    let mut j = i;
    while j < s.len() && pred(s[j]) {
        j += 1;
    }
    j
}

/// `_PREFIX`: the pid column and the timestamp.  Returns (pid, ts, end).
fn prefix(s: &[u8]) -> (Option<i64>, Option<(f64, TsKind)>, usize) {
    let mut i = 0;
    let mut pid = None;
    // (\d{1,7})\ +
    let d = run(s, 0, |b| b.is_ascii_digit());
    if (1..=7).contains(&d) && s.get(d) == Some(&b' ') {
        pid = Some(digits(&s[..d]));
        i = run(s, d, |b| b == b' ');
    } else if s.starts_with(b"[pid ") {
        // \[pid\ +(\d{1,7})\]\
        let a = run(s, 5, |b| b == b' ');
        let e = run(s, a, |b| b.is_ascii_digit());
        if (1..=7).contains(&(e - a)) && s.get(e) == Some(&b']') && s.get(e + 1) == Some(&b' ') {
            pid = Some(digits(&s[a..e]));
            i = e + 2;
        }
    }
    match timestamp(s, i) {
        Some((ts, end)) => (pid, Some(ts), end),
        None => (pid, None, i),
    }
}

/// `_TS` at `i`: the stamp, its kind, and the end (after the space and an
/// optional `(+ rel) `).
fn timestamp(s: &[u8], i: usize) -> Option<((f64, TsKind), usize)> {
    let d = run(s, i, |b| b.is_ascii_digit()) - i;
    let mut found = None;
    // (\d\d):(\d\d):(\d\d(?:\.\d+)?)
    if d == 2
        && s.get(i + 2) == Some(&b':')
        && run(s, i + 3, |b| b.is_ascii_digit()) == i + 5
        && s.get(i + 5) == Some(&b':')
        && run(s, i + 6, |b| b.is_ascii_digit()) == i + 8
    {
        let mut e = i + 8;
        if s.get(e) == Some(&b'.') {
            let f = run(s, e + 1, |b| b.is_ascii_digit());
            if f > e + 1 {
                e = f;
            }
        }
        if s.get(e) == Some(&b' ') {
            let h = digits(&s[i..i + 2]);
            let m = digits(&s[i + 3..i + 5]);
            let v = (h * 3600 + m * 60) as f64 + float(&s[i + 6..e]);
            found = Some(((v, TsKind::Clock), e + 1));
        }
    }
    // (\d{9,}(?:\.\d+)?)
    if found.is_none() && d >= 9 {
        let mut e = i + d;
        if s.get(e) == Some(&b'.') {
            let f = run(s, e + 1, |b| b.is_ascii_digit());
            if f > e + 1 && s.get(f) == Some(&b' ') {
                e = f;
            }
        }
        if s.get(e) == Some(&b' ') {
            found = Some(((float(&s[i..e]), TsKind::Unix), e + 1));
        }
    }
    // \ *(\d{1,8}\.\d+)
    if found.is_none() {
        let a = run(s, i, |b| b == b' ');
        let e = run(s, a, |b| b.is_ascii_digit());
        if (1..=8).contains(&(e - a)) && s.get(e) == Some(&b'.') {
            let f = run(s, e + 1, |b| b.is_ascii_digit());
            if f > e + 1 && s.get(f) == Some(&b' ') {
                found = Some(((float(&s[a..f]), TsKind::Relative), f + 1));
            }
        }
    }
    let (ts, mut end) = found?;
    // (?:\(\+\ *\d+\.\d+\)\ )?
    if s.get(end) == Some(&b'(') && s.get(end + 1) == Some(&b'+') {
        let a = run(s, end + 2, |b| b == b' ');
        let e = run(s, a, |b| b.is_ascii_digit());
        if e > a && s.get(e) == Some(&b'.') {
            let f = run(s, e + 1, |b| b.is_ascii_digit());
            if f > e + 1 && s.get(f) == Some(&b')') && s.get(f + 1) == Some(&b' ') {
                end = f + 2;
            }
        }
    }
    Some((ts, end))
}

/// `([A-Za-z_]\w*|\?\?\?)` at `i`: the end of the name.
fn ident(s: &[u8], i: usize) -> Option<usize> {
    match s.get(i) {
        Some(&b) if b.is_ascii_alphabetic() || b == b'_' => Some(run(s, i + 1, is_word)),
        Some(b'?') if s[i..].starts_with(b"???") => Some(i + 3),
        _ => None,
    }
}

/// `_NAME` at `i`: (name, resumed, end).
fn name_at(s: &[u8], i: usize) -> Option<(&[u8], bool, usize)> {
    if let Some(e) = ident(s, i) {
        return if s.get(e) == Some(&b'(') {
            Some((&s[i..e], false, e + 1))
        } else {
            None
        };
    }
    if s[i..].starts_with(b"<... ") {
        let a = i + 5;
        let e = ident(s, a)?;
        if s[e..].starts_with(b" resumed>") {
            let mut end = e + 9;
            if s[end..].starts_with(b" <unfinished ...>") {
                end += 17;
            }
            return Some((&s[a..e], true, end));
        }
    }
    None
}

/// `_HEAD`: prefix and name.
struct Head<'a> {
    pid: Option<i64>,
    ts: Option<(f64, TsKind)>,
    name: &'a [u8],
    resumed: bool,
    end: usize,
}

fn head(s: &[u8]) -> Option<Head<'_>> {
    let (pid, ts, p) = prefix(s);
    let (name, resumed, end) = name_at(s, p)?;
    Some(Head {
        pid,
        ts,
        name,
        resumed,
        end,
    })
}

fn call_line<'a>(h: &Head<'a>, args: &'a [u8], r: ResultPart<'a>, inline: bool) -> Line<'a> {
    let mut l = Line::new(
        h.pid,
        h.ts,
        if h.resumed { Kind::Resumed } else { Kind::Call },
    );
    l.name = Some(h.name);
    l.args = args;
    l.ret = Some(r.ret);
    l.ret_path = r.dec.and_then(|d| {
        if inline && inline_path(d) {
            Some(Cow::Borrowed(&d[1..d.len() - 1]))
        } else {
            text::ret_path(d)
        }
    });
    l.errno = r.errno;
    l.duration = r.dur.map(float);
    l
}

/// The fast path's shortcut for `"</plain/path>"` (kept exactly as Python
/// does it: it does not strip a `" (deleted)"` inside).
fn inline_path(d: &[u8]) -> bool {
    d.len() >= 2
        && d[1] == b'/'
        && d[d.len() - 1] == b'>'
        && !d.contains(&b'\\')
        && d.iter().filter(|&&b| b == b'<').count() == 1
        && !d[1..].starts_with(b"/memfd:")
}

/// Parse one line of strace output (with or without its newline); `None`
/// when strace does not write such a line.  Never panics.
pub fn parse_line(line: &[u8]) -> Option<Line<'_>> {
    if !line.ends_with(b"...>\n")
        && !line.ends_with(b"...>")
        && (line.len() <= FAST_MAX || py_len(line) <= FAST_MAX)
    {
        if let Some(l) = fast(line) {
            return Some(l);
        }
    }
    if let Some(l) = slow(line) {
        return Some(l);
    }
    // Terminal output where the program's own output ran into strace's.
    if line.len() > 1 {
        if let Some(i) = text::find(line, b"[pid ", 1) {
            return slow(&line[i..]);
        }
    }
    None
}

/// `_CALL`: the greedy `(.*)` takes the last `) +=␣` whose remainder is a
/// valid result.
fn fast(line: &[u8]) -> Option<Line<'_>> {
    let h = head(line)?;
    let mut p = line.len();
    while p > h.end {
        p -= 1;
        if line[p] != b')' || line.get(p + 1) != Some(&b' ') {
            continue;
        }
        let sp = run(line, p + 1, |b| b == b' ');
        if line.get(sp) != Some(&b'=') || line.get(sp + 1) != Some(&b' ') {
            continue;
        }
        if let Some(r) = result_at(line, sp + 2) {
            return Some(call_line(&h, &line[h.end..p], r, true));
        }
    }
    None
}

/// `_pending`: an unfinished / detached / pid-changed call line.
fn pending(line: &[u8]) -> Option<Line<'_>> {
    let h = head(line)?;
    let p = h.end;
    let mut e = line.len();
    if line.last() == Some(&b'\n') {
        e -= 1;
    }
    let k = rfind(line, b" <", p, e)?;
    let marker = &line[k + 2..e];
    let (kind, newpid) = if marker == b"unfinished ...>" {
        (Kind::Unfinished, None)
    } else if marker == b"detached ...>" {
        (Kind::Detached, None)
    } else {
        // pid\ changed\ to\ (\d{1,7})\ \.\.\.>\Z
        let rest = marker.strip_prefix(b"pid changed to ")?;
        let d = run(rest, 0, |b| b.is_ascii_digit());
        if !(1..=7).contains(&d) || &rest[d..] != b" ...>" {
            return None;
        }
        (Kind::Unfinished, Some(digits(&rest[..d])))
    };
    let mut l = Line::new(h.pid, h.ts, kind);
    l.name = Some(h.name);
    l.args = &line[p..k];
    l.pid_in_text = newpid;
    Some(l)
}

/// `_call_safe`: the head, then the last few `" = "` whose remainder is a
/// valid result; linear time.
fn call_safe(line: &[u8]) -> Option<Line<'_>> {
    let h = head(line)?;
    let p = h.end;
    let mut end = line.len();
    for _ in 0..16 {
        let j = rfind(line, b" = ", p, end)?;
        end = j + 2;
        let mut a = j;
        while a > p && line[a - 1] == b' ' {
            a -= 1;
        }
        if a <= p || line[a - 1] != b')' {
            continue;
        }
        if let Some(r) = result_at(line, j + 3) {
            return Some(call_line(&h, &line[p..a - 1], r, false));
        }
    }
    None
}

fn slow(line: &[u8]) -> Option<Line<'_>> {
    if let Some(l) = pending(line) {
        return Some(l);
    }
    let (pid, ts, p) = prefix(line);
    let mut rest = &line[p..];
    if rest.last() == Some(&b'\n') {
        rest = &rest[..rest.len() - 1];
    }
    if let Some(l) = call_safe(line) {
        return Some(l);
    }
    let new = |kind| Line::new(pid, ts, kind);
    match rest.first() {
        Some(b'-') => {
            if let Some((name, info)) = signal(rest) {
                let mut l = new(Kind::Signal);
                l.name = Some(name);
                l.args = info;
                return Some(l);
            }
            if let Some(name) = between(rest, b"--- stopped by ", b" ---").filter(|n| sig_name(n)) {
                let mut l = new(Kind::Signal);
                l.name = Some(name);
                return Some(l);
            }
        }
        Some(b'+') => {
            if let Some(n) = between(rest, b"+++ exited with ", b" +++") {
                if (1..=10).contains(&n.len()) && n.iter().all(u8::is_ascii_digit) {
                    let mut l = new(Kind::Exited);
                    l.status = Some(digits(n));
                    return Some(l);
                }
            }
            if let Some(n) = between(rest, b"+++ killed by ", b" +++") {
                let (n, core) = match n.strip_suffix(b" (core dumped)") {
                    Some(m) if sig_name(m) => (m, true),
                    _ => (n, false),
                };
                if sig_name(n) {
                    let mut l = new(Kind::Killed);
                    l.name = Some(n);
                    l.core = core;
                    return Some(l);
                }
            }
            if let Some(n) = between(rest, b"+++ superseded by execve in pid ", b" +++") {
                if (1..=7).contains(&n.len()) && n.iter().all(u8::is_ascii_digit) {
                    let mut l = new(Kind::Info);
                    l.args = &rest[4..rest.len() - 4];
                    l.pid_in_text = Some(digits(n));
                    return Some(l);
                }
            }
        }
        Some(b's') if rest.starts_with(b"strace: ") => {
            if let Some((kind, n)) = process(rest) {
                let mut l = new(kind);
                l.pid_in_text = Some(n);
                return Some(l);
            }
            let mut l = new(Kind::Info);
            l.args = &rest[8..];
            return Some(l);
        }
        _ => {}
    }
    if strip(rest) == b"<detached ...>" {
        return Some(new(Kind::Detached));
    }
    if rest.len() <= FAST_MAX || py_len(rest) <= FAST_MAX {
        if let Some(l) = loose_call(rest, pid, ts) {
            return Some(l);
        }
    }
    None
}

/// `[A-Z][A-Z0-9_+-]*` as the whole text.
fn sig_name(s: &[u8]) -> bool {
    matches!(s.first(), Some(b'A'..=b'Z'))
        && s.iter().all(|&b| {
            b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'_' | b'+' | b'-')
        })
}

/// The text between a fixed start and end, when `s` has both.
fn between<'a>(s: &'a [u8], start: &[u8], end: &[u8]) -> Option<&'a [u8]> {
    if s.len() < start.len() + end.len() {
        return None;
    }
    s.strip_prefix(start)?.strip_suffix(end)
}

/// `_SIGNAL`: `---\ ([A-Z][A-Z0-9_+-]*)\ (\{.*\})\ ---\Z`.
fn signal(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = rest.strip_prefix(b"--- ")?;
    let n = run(body, 0, |b| {
        b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'_' | b'+' | b'-')
    });
    if n == 0 || !body[0].is_ascii_uppercase() || body.get(n) != Some(&b' ') {
        return None;
    }
    let info = body[n + 1..].strip_suffix(b" ---")?;
    if info.len() >= 2 && info[0] == b'{' && info[info.len() - 1] == b'}' {
        Some((&body[..n], info))
    } else {
        None
    }
}

/// `_PROCESS`: `strace: Process N attached|detached[ with N threads]`.
fn process(rest: &[u8]) -> Option<(Kind, i64)> {
    let body = rest.strip_prefix(b"strace: Process ")?;
    let d = run(body, 0, |b| b.is_ascii_digit());
    if !(1..=7).contains(&d) || body.get(d) != Some(&b' ') {
        return None;
    }
    let tail = &body[d + 1..];
    let (kind, after) = if let Some(t) = tail.strip_prefix(b"attached") {
        (Kind::Attached, t)
    } else if let Some(t) = tail.strip_prefix(b"detached") {
        (Kind::Detached, t)
    } else {
        return None;
    };
    if !after.is_empty() {
        let t = after.strip_prefix(b" with ")?.strip_suffix(b" threads")?;
        if t.is_empty() || !t.iter().all(u8::is_ascii_digit) {
            return None;
        }
    }
    Some((kind, digits(&body[..d])))
}

/// `_LOOSE_CALL` on the text after the prefix: a complete call whose
/// result the strict expression did not recognise.
fn loose_call(rest: &[u8], pid: Option<i64>, ts: Option<(f64, TsKind)>) -> Option<Line<'_>> {
    let (name, resumed, start) = name_at(rest, 0)?;
    let n = rest.len();
    let mut p = n;
    while p > start {
        p -= 1;
        if rest[p] != b')' || rest.get(p + 1) != Some(&b' ') {
            continue;
        }
        let sp = run(rest, p + 1, |b| b == b' ');
        if rest.get(sp) != Some(&b'=') || rest.get(sp + 1) != Some(&b' ') {
            continue;
        }
        // (\S+)
        let r0 = sp + 2;
        let r1 = run(rest, r0, |b| !is_space(b));
        if r1 == r0 {
            continue;
        }
        let Some((errno, dur)) = result::loose_tail(rest, r1) else {
            continue;
        };
        let mut ret = &rest[r0..r1];
        let mut rp = None;
        if let Some(i) = ret.iter().position(|&b| b == b'<') {
            if i > 0 && ret.ends_with(b">") {
                rp = text::ret_path(&ret[i..]);
                ret = &ret[..i];
            }
        }
        let mut l = Line::new(pid, ts, if resumed { Kind::Resumed } else { Kind::Call });
        l.name = Some(name);
        l.args = &rest[start..p];
        l.ret = Some(ret);
        l.ret_path = rp;
        l.errno = errno;
        l.duration = dur.map(float);
        return Some(l);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_with_decorated_result() {
        let l = parse_line(b"4849  1795816365.090711 openat(AT_FDCWD</tmp/d>, \"/x\", O_RDONLY) = 3</x> <0.000016>\n").unwrap();
        assert_eq!(l.pid, Some(4849));
        assert_eq!(l.kind, Kind::Call);
        assert_eq!(l.name, Some(&b"openat"[..]));
        assert_eq!(l.ret, Some(&b"3"[..]));
        assert_eq!(l.ret_path.as_deref(), Some(&b"/x"[..]));
        assert_eq!(l.duration, Some(0.000016));
        assert_eq!(l.ts_kind, Some(TsKind::Unix));
    }

    #[test]
    fn unfinished_resumed_exit() {
        let l = parse_line(b"[pid  12] 21:52:50.5 wait4(-1,  <unfinished ...>\n").unwrap();
        assert_eq!((l.kind, l.pid), (Kind::Unfinished, Some(12)));
        assert_eq!(l.ts, Some(21.0 * 3600.0 + 52.0 * 60.0 + 50.5));
        let l = parse_line(b"12 <... wait4 resumed>NULL) = 5\n").unwrap();
        assert_eq!(l.kind, Kind::Resumed);
        let l = parse_line(b"12 +++ killed by SIGKILL (core dumped) +++\n").unwrap();
        assert_eq!((l.kind, l.core), (Kind::Killed, true));
        assert!(parse_line(b"hello world\n").is_none());
    }
}
