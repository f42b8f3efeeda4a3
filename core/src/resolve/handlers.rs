//! The per-syscall handlers of the resolver (`Resolver._fork` ... in
//! `tracer/resolve.py`), in the same order of operations, so that a call
//! cut short (too few arguments: Python's IndexError, here `Missing`)
//! leaves the same partial event and the same counters.

use std::borrow::Cow;

use super::args::{
    decode_fd, decode_string, loose_int, normalize, split_args, Args, Missing, AT_FDCWD,
};
use super::event::{Event, Value};
use super::{int_of, int_value, Call, Resolver};
use crate::parse::text::{find, strip};

type R = Result<(), Missing>;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle, 0).is_some()
}

fn strip_deleted(p: &[u8]) -> &[u8] {
    p.strip_suffix(b" (deleted)").unwrap_or(p)
}

/// `re.search(prefix + "(CLASS+)")`: the first run after a `prefix`.
fn search_run<'a>(s: &'a [u8], prefix: &[u8], class: impl Fn(u8) -> bool) -> Option<&'a [u8]> {
    let mut from = 0;
    while let Some(i) = find(s, prefix, from) {
        let a = i + prefix.len();
        let mut e = a;
        while e < s.len() && class(s[e]) {
            e += 1;
        }
        if e > a {
            return Some(&s[a..e]);
        }
        from = i + 1;
    }
    None
}

fn is_w(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn flag_class(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'|'
}

/// Route a call to its handler.
pub fn dispatch(
    r: &mut Resolver,
    pi: usize,
    c: &Call<'_>,
    t: &mut Args<'_>,
    ev: &mut Event,
    rel: &mut Vec<usize>,
) -> R {
    match c.name {
        b"fork" | b"vfork" | b"clone" | b"clone3" => fork(r, pi, c, t, ev),
        b"execve" | b"execveat" => exec(r, pi, c, t, ev, rel),
        b"wait4" | b"waitid" => wait(r, c, t, ev),
        b"open" | b"openat" | b"openat2" | b"creat" => open(r, pi, c, t, ev, rel),
        b"close" => close(r, pi, t, ev, rel),
        b"close_range" => close_range(r, pi, t, ev, rel),
        b"dup" | b"dup2" | b"dup3" => dup(r, pi, c, t, ev, rel),
        b"fcntl" | b"fcntl64" => fcntl(r, pi, t, ev, rel),
        b"flock" => flock(r, pi, t, ev, rel),
        b"chdir" | b"fchdir" => chdir(r, pi, c, t, ev),
        b"getcwd" => getcwd(r, pi, t, ev),
        b"stat" | b"lstat" | b"access" | b"mkdir" | b"rmdir" | b"unlink" | b"truncate"
        | b"chmod" | b"chown" | b"lchown" | b"readlink" | b"mknod" | b"stat64" | b"lstat64" => {
            one_path(r, pi, c, t, ev)
        }
        b"newfstatat" | b"fstatat64" | b"statx" | b"faccessat" | b"faccessat2" | b"mkdirat"
        | b"unlinkat" | b"readlinkat" | b"utimensat" | b"fchmodat" | b"fchmodat2" | b"fchownat"
        | b"mknodat" => at_path(r, pi, c, t, ev),
        b"rename" | b"renameat" | b"renameat2" | b"link" | b"linkat" | b"symlink"
        | b"symlinkat" => two_paths(r, pi, c, t, ev),
        b"fstat" | b"fstat64" | b"getdents64" | b"getdents" | b"ftruncate" | b"fchmod"
        | b"fchown" | b"fsync" | b"fdatasync" => {
            let tok = t.at(0)?;
            fd_event_path(r, pi, ev, tok);
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Resolver {
    /// `_fd_path`: the path of an fd argument.
    fn fd_path(&mut self, pi: usize, token: &[u8]) -> Option<Vec<u8>> {
        let fs = self.processes[pi].fs;
        let t = self.processes[pi].fdt;
        if token == b"AT_FDCWD" {
            return self.fss[fs].cwd.clone();
        }
        if !token.is_empty() && token.iter().all(u8::is_ascii_digit) {
            let fd = std::str::from_utf8(token).ok()?.parse::<i64>().ok()?;
            let o = *self.fdts[t].fds.get(&fd)?;
            return self.ofds[o].path.clone();
        }
        let (fd, deco) = decode_fd(token)?;
        if fd == AT_FDCWD {
            if self.fss[fs].cwd.is_none() {
                if let Some(d) = deco.as_deref().filter(|d| d.starts_with(b"/")) {
                    self.fss[fs].cwd = Some(strip_deleted(d).to_vec());
                }
            }
            return self.fss[fs].cwd.clone();
        }
        let ofd = self.fdts[t].fds.get(&fd).copied();
        if let Some(o) = ofd {
            if let Some(p) = &self.ofds[o].path {
                return Some(p.clone());
            }
        }
        let d = deco.as_deref().filter(|d| d.starts_with(b"/"))?;
        let d = strip_deleted(d).to_vec();
        if let Some(o) = ofd {
            self.ofds[o].path = Some(d.clone());
        }
        Some(d)
    }

    /// `_path`: resolve a path argument (relative to `dirtok` or the cwd).
    fn path(
        &mut self,
        pi: usize,
        ev: &mut Event,
        dirtok: Option<&[u8]>,
        pathtok: &[u8],
        empty_ok: bool,
    ) -> Option<Vec<u8>> {
        self.paths += 1;
        let decoded: Option<(Cow<'_, [u8]>, bool)> = if pathtok.len() > 1
            && pathtok.first() == Some(&b'"')
            && pathtok.last() == Some(&b'"')
            && !pathtok.contains(&b'\\')
        {
            Some((Cow::Borrowed(&pathtok[1..pathtok.len() - 1]), false))
        } else {
            decode_string(pathtok)
        };
        let Some((text, cut)) = decoded else {
            if empty_ok && pathtok == b"NULL" {
                if let Some(d) = dirtok {
                    return self.base(pi, ev, d);
                }
            }
            self.unresolved += 1;
            ev.set("unresolved", Value::Bool(true));
            return None;
        };
        if cut {
            self.truncated += 1;
            self.unresolved += 1;
            ev.set("truncated", Value::Bool(true));
            ev.set("unresolved", Value::Bool(true));
            return None;
        }
        if text.starts_with(b"/") {
            return Some(normalize(text).into_owned());
        }
        if text.is_empty() && empty_ok {
            if let Some(d) = dirtok {
                return self.base(pi, ev, d);
            }
        }
        let base = match dirtok {
            Some(d) => self.fd_path(pi, d),
            None => self.fss[self.processes[pi].fs].cwd.clone(),
        };
        let Some(base) = base else {
            self.unresolved += 1;
            ev.set("unresolved", Value::Bool(true));
            return None;
        };
        if text.is_empty() {
            return Some(base);
        }
        let joined = if base != b"/" {
            [&base[..], b"/", &text].concat()
        } else {
            [&b"/"[..], &text].concat()
        };
        Some(normalize(Cow::Owned(joined)).into_owned())
    }

    /// `_base`: the path of the fd itself (`AT_EMPTY_PATH`, a NULL path).
    fn base(&mut self, pi: usize, ev: &mut Event, dirtok: &[u8]) -> Option<Vec<u8>> {
        self.paths -= 1;
        let p = self.fd_path(pi, dirtok);
        if p.is_none() {
            self.unknown_fds += 1;
            ev.set("unresolved", Value::Bool(true));
        }
        p
    }
}

/// `_fd_event_path`: fill `fd`/`path`/`ofd` of an fd-based call.
fn fd_event_path(r: &mut Resolver, pi: usize, ev: &mut Event, token: &[u8]) {
    let Some((fd, _)) = decode_fd(token) else {
        return;
    };
    ev.set("fd", Value::int(fd));
    let path = r.fd_path(pi, token);
    if path.is_none() {
        r.unknown_fds += 1;
        ev.set("unresolved", Value::Bool(true));
    }
    ev.set("path", Value::opt_str(path.as_deref()));
    let t = r.processes[pi].fdt;
    if let Some(&o) = r.fdts[t].fds.get(&fd) {
        ev.set("ofd", Value::int(r.ofds[o].id));
    }
}

fn opt_path(p: Option<Vec<u8>>) -> Value {
    p.map_or(Value::Null, Value::Str)
}

fn fork(r: &mut Resolver, pi: usize, c: &Call<'_>, t: &mut Args<'_>, ev: &mut Event) -> R {
    let child = match ev.get("result") {
        Some(Value::Int(v)) if v.val() > 0 => v.val(),
        _ => return Ok(()),
    };
    let mut flags: &[u8] = b"";
    if c.name == b"clone" || c.name == b"clone3" {
        let mut i = 0;
        while let Ok(tok) = t.at(i) {
            if let Some(m) = search_run(tok, b"flags=", flag_class) {
                flags = m;
                break;
            }
            i += 1;
        }
        ev.set("flags", Value::str(flags));
    }
    let thread = contains(flags, b"CLONE_THREAD");
    ev.set("type", Value::Sym(b"fork"));
    ev.set("child", ev.get("result").cloned().unwrap_or(Value::Null));
    ev.set("thread", Value::Bool(thread));
    ev.set(
        "vfork",
        Value::Bool(c.name == b"vfork" || contains(flags, b"CLONE_VFORK")),
    );
    if thread {
        r.processes[pi].tids.add(child);
        r.threads.insert(child, pi);
        ev.set("child_proc", Value::Shared(r.processes[pi].key.clone()));
        return Ok(());
    }
    let pt = r.processes[pi].fdt;
    let fdt = if contains(flags, b"CLONE_FILES") {
        r.fdts[pt].users += 1;
        pt
    } else {
        let nt = r.new_fdt();
        let items: Vec<(i64, usize)> = r.fdts[pt].fds.iter().map(|(&k, &v)| (k, v)).collect();
        for (fd, o) in items {
            r.ofds[o].refs += 1;
            r.fdts[nt].fds.insert(fd, o);
        }
        r.fdts[nt].cloexec = r.fdts[pt].cloexec.copy();
        nt
    };
    let pf = r.processes[pi].fs;
    let fs = if contains(flags, b"CLONE_FS") {
        r.fss[pf].users += 1;
        pf
    } else {
        let cwd = r.fss[pf].cwd.clone();
        r.new_fs(cwd)
    };
    let ci = r.new_process(child, fdt, fs);
    r.child_processes += 1;
    ev.set("child_proc", Value::Shared(r.processes[ci].key.clone()));
    Ok(())
}

fn decode_array(token: &[u8]) -> Vec<Value> {
    let t = strip(token);
    if !t.starts_with(b"[") {
        return Vec::new();
    }
    let inner = match t.iter().rposition(|&b| b == b']') {
        Some(e) if e >= 1 => &t[1..e],
        Some(_) => &t[1..1],
        None => &t[1..],
    };
    let mut out = Vec::new();
    for item in split_args(inner) {
        if let Some((text, cut)) = decode_string(item) {
            let mut v = text.into_owned();
            if cut {
                v.extend_from_slice(b"...");
            }
            out.push(Value::Str(v));
        }
    }
    out
}

fn exec(
    r: &mut Resolver,
    pi: usize,
    c: &Call<'_>,
    t: &mut Args<'_>,
    ev: &mut Event,
    rel: &mut Vec<usize>,
) -> R {
    let at = c.name == b"execveat";
    let dirtok = if at { Some(t.at(0)?) } else { None };
    let pathtok = if at { t.at(1)? } else { t.at(0)? };
    let p = r.path(pi, ev, dirtok, pathtok, false);
    ev.set("path", opt_path(p));
    if ev.has_value("errno") || !ev.get("result").is_none_or(Value::is_zero_or_none) {
        return Ok(());
    }
    let argv = decode_array(if at { t.at(2)? } else { t.at(1)? });
    ev.set("type", Value::Sym(b"exec"));
    ev.set("argv", Value::List(argv));
    let tab = r.processes[pi].fdt;
    for fd in r.fdts[tab].cloexec.items() {
        r.drop_fd(tab, fd, rel);
    }
    Ok(())
}

fn wait(r: &mut Resolver, c: &Call<'_>, t: &mut Args<'_>, ev: &mut Event) -> R {
    let result = ev.get("result").cloned().unwrap_or(Value::Null);
    let child: Value;
    if c.name == b"wait4" {
        match result.as_int() {
            Some(v) if v > 0 => {}
            _ => return Ok(()),
        }
        child = result;
        let status = t.get(1);
        if let Some(m) = search_run(status, b"WEXITSTATUS(s) == ", |b| b.is_ascii_digit()) {
            ev.set("code", int_of(m));
        }
        if let Some(m) = search_run(status, b"WTERMSIG(s) == ", is_w) {
            ev.set("signal", Value::str(m));
        }
        if contains(status, b"WIFSTOPPED") || contains(status, b"WIFCONTINUED") {
            return Ok(());
        }
    } else {
        let info = t.get(2);
        let m = search_run(info, b"si_pid=", |b| b.is_ascii_digit());
        let code = search_run(info, b"si_code=", is_w);
        let (Some(m), Some(code)) = (m, code) else {
            return Ok(());
        };
        if result != Value::int(0) || !matches!(code, b"CLD_EXITED" | b"CLD_KILLED" | b"CLD_DUMPED")
        {
            return Ok(());
        }
        child = int_of(m);
        if let Some(st) = search_run(info, b"si_status=", is_w) {
            if code == b"CLD_EXITED" {
                ev.set("code", int_value(loose_int(st)));
            } else {
                ev.set("signal", Value::str(st));
            }
        }
        if contains(t.get(3), b"WNOWAIT") {
            ev.set("nowait", Value::Bool(true));
        }
    }
    ev.set("type", Value::Sym(b"wait"));
    let cv = child.as_int();
    ev.set("child", child);
    if let Some(target) = cv.and_then(|v| r.lookup(v)) {
        ev.set("child_proc", Value::Shared(r.processes[target].key.clone()));
    }
    Ok(())
}

fn open(
    r: &mut Resolver,
    pi: usize,
    c: &Call<'_>,
    t: &mut Args<'_>,
    ev: &mut Event,
    rel: &mut Vec<usize>,
) -> R {
    let path;
    let flags: Vec<u8>;
    match c.name {
        b"open" => {
            let tok = t.at(0)?;
            path = r.path(pi, ev, None, tok, false);
            flags = t.at(1)?.to_vec();
        }
        b"creat" => {
            let tok = t.at(0)?;
            path = r.path(pi, ev, None, tok, false);
            flags = b"O_CREAT|O_WRONLY|O_TRUNC".to_vec();
        }
        _ => {
            let d = t.at(0)?;
            let p = t.at(1)?;
            path = r.path(pi, ev, Some(d), p, false);
            let f2 = t.at(2)?;
            flags = if c.name == b"openat2" {
                search_run(f2, b"flags=", flag_class).unwrap_or(f2).to_vec()
            } else {
                f2.to_vec()
            };
            let d = t.at(0)?;
            if d != b"AT_FDCWD" && !d.starts_with(b"AT_FDCWD<") {
                if let Some((fd, _)) = decode_fd(d) {
                    ev.set("dirfd", Value::int(fd));
                }
            }
        }
    }
    let cloexec = contains(&flags, b"O_CLOEXEC");
    ev.set("flags", Value::Str(flags));
    let fd = ev.get("result").and_then(Value::as_int);
    let mut path = path;
    if path.is_none() {
        if let Some(rp) = c.ret_path.filter(|p| p.starts_with(b"/")) {
            r.unresolved -= 1;
            ev.pop("unresolved");
            path = Some(strip_deleted(rp).to_vec());
        }
    }
    ev.set("path", opt_path(path.clone()));
    if let Some(fd) = fd.filter(|&f| f >= 0) {
        let o = r.new_ofd(path);
        let tab = r.processes[pi].fdt;
        r.install(tab, fd, o, cloexec, rel, false);
        ev.set("fd", ev.get("result").cloned().unwrap_or(Value::Null));
        ev.set("ofd", Value::int(r.ofds[o].id));
    }
    Ok(())
}

fn close(r: &mut Resolver, pi: usize, t: &mut Args<'_>, ev: &mut Event, rel: &mut Vec<usize>) -> R {
    let tab = r.processes[pi].fdt;
    let key = if !t.get(0).is_empty() {
        loose_int(t.at(0)?)
    } else {
        Some(super::args::PyInt::Small(-1))
    };
    let stale = match &key {
        Some(k) => r.fdts[tab].stale.remove(&k.val()),
        None => None,
    };
    if let Some(s) = stale {
        if !ev.has_value("errno") {
            let fdv = loose_int(t.at(0)?);
            ev.set("fd", int_value(fdv));
            ev.set("path", Value::opt_str(r.ofds[s].path.as_deref()));
            ev.set("ofd", Value::int(r.ofds[s].id));
            let last = r.unref(s, rel);
            ev.set("last", Value::Bool(last));
            return Ok(());
        }
    }
    let tok = t.at(0)?;
    fd_event_path(r, pi, ev, tok);
    let Some(fd) = ev.get_int("fd") else {
        return Ok(());
    };
    if ev.get_str("errno") == Some(b"EBADF") {
        return Ok(());
    }
    let mut scratch = Vec::new();
    if let Some(last) = r.drop_fd(tab, fd, &mut scratch) {
        ev.set("last", Value::Bool(last));
    }
    Ok(())
}

fn close_range(
    r: &mut Resolver,
    pi: usize,
    t: &mut Args<'_>,
    ev: &mut Event,
    rel: &mut Vec<usize>,
) -> R {
    if ev.has_value("errno") {
        return Ok(());
    }
    let first = loose_int(t.at(0)?).map_or(0, |v| v.val());
    let last_tok = t.at(1)?;
    let last = if last_tok.starts_with(b"~") {
        1i64 << 31
    } else {
        loose_int(last_tok).map_or(0, |v| v.val())
    };
    let tab = r.processes[pi].fdt;
    let targets: Vec<i64> = r.fdts[tab]
        .fds
        .keys()
        .copied()
        .filter(|&fd| first <= fd && fd <= last)
        .collect();
    if contains(t.get(2), b"CLOSE_RANGE_CLOEXEC") {
        for fd in targets {
            r.fdts[tab].cloexec.add(fd);
        }
        return Ok(());
    }
    for fd in targets {
        r.drop_fd(tab, fd, rel);
    }
    Ok(())
}

fn dup(
    r: &mut Resolver,
    pi: usize,
    c: &Call<'_>,
    t: &mut Args<'_>,
    ev: &mut Event,
    rel: &mut Vec<usize>,
) -> R {
    let tok = t.at(0)?;
    fd_event_path(r, pi, ev, tok);
    let new = ev.get("result").and_then(Value::as_int);
    let old = ev.get_int("fd");
    let (Some(new), Some(old)) = (new, old) else {
        return Ok(());
    };
    if new < 0 {
        return Ok(());
    }
    let tab = r.processes[pi].fdt;
    let o = match r.fdts[tab].fds.get(&old) {
        Some(&o) => o,
        None => {
            let p = ev.get_str("path").map(<[u8]>::to_vec);
            let o = r.new_ofd(p);
            r.install(tab, old, o, false, rel, false);
            o
        }
    };
    let cloexec = c.name == b"dup3" && contains(t.get(2), b"O_CLOEXEC");
    if new != old {
        r.install(tab, new, o, cloexec, rel, c.name != b"dup");
    }
    ev.set("newfd", ev.get("result").cloned().unwrap_or(Value::Null));
    Ok(())
}

/// `l_type=(\w+).*?l_start=(-?\w+).*?l_len=(-?\w+)` searched as the
/// backtracking engine does (greedy runs that give back, lazy gaps).
fn lock_fields(s: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let wrun = |i: usize| s[i..].iter().take_while(|&&c| is_w(c)).count();
    // -?\w+ at i: the maximal end (the sign is kept only with a word run)
    let signed = |i: usize| -> Option<(usize, usize)> {
        if s.get(i) == Some(&b'-') {
            let n = wrun(i + 1);
            if n > 0 {
                return Some((i + 1, i + 1 + n));
            }
            return None;
        }
        let n = wrun(i);
        (n > 0).then_some((i, i + n))
    };
    let mut from = 0;
    while let Some(a) = find(s, b"l_type=", from) {
        from = a + 1;
        let t0 = a + 7;
        let n = wrun(t0);
        for te in (t0 + 1..=t0 + n).rev() {
            let mut i = te;
            while let Some(j) = find(s, b"l_start=", i) {
                i = j + 1;
                if s[te..j].contains(&b'\n') {
                    break;
                }
                let Some((w0, we)) = signed(j + 8) else {
                    continue;
                };
                for se in (w0 + 1..=we).rev() {
                    let mut k = se;
                    while let Some(l) = find(s, b"l_len=", k) {
                        k = l + 1;
                        if s[se..l].contains(&b'\n') {
                            break;
                        }
                        if let Some((_, le)) = signed(l + 6) {
                            return Some((&s[t0..te], &s[j + 8..se], &s[l + 6..le]));
                        }
                    }
                }
            }
        }
    }
    None
}

fn fcntl(r: &mut Resolver, pi: usize, t: &mut Args<'_>, ev: &mut Event, rel: &mut Vec<usize>) -> R {
    let tok = t.at(0)?;
    fd_event_path(r, pi, ev, tok);
    let cmd = t.at(1)?;
    ev.set("flags", Value::str(cmd));
    let ok = !ev.has_value("errno");
    let fd = ev.get_int("fd");
    let tab = r.processes[pi].fdt;
    if cmd.starts_with(b"F_DUPFD") {
        let new = ev.get("result").and_then(Value::as_int);
        let o = fd.and_then(|f| r.fdts[tab].fds.get(&f).copied());
        if let (true, Some(new), Some(o)) = (ok, new, o) {
            if new >= 0 {
                r.install(tab, new, o, cmd == b"F_DUPFD_CLOEXEC", rel, false);
                ev.set("newfd", ev.get("result").cloned().unwrap_or(Value::Null));
            }
        }
    } else if cmd == b"F_SETFD" && ok && fd.is_some_and(|f| r.fdts[tab].fds.contains_key(&f)) {
        let f = fd.unwrap_or_default();
        if contains(t.get(2), b"FD_CLOEXEC") {
            r.fdts[tab].cloexec.add(f);
        } else {
            r.fdts[tab].cloexec.discard(f);
        }
    } else if (cmd.starts_with(b"F_SETLK") || cmd.starts_with(b"F_OFD_SETLK"))
        && !t.get(2).is_empty()
    {
        let a2 = t.at(2)?;
        if let Some((ty, st, ln)) = lock_fields(a2) {
            let op: &'static [u8] = match ty {
                b"F_WRLCK" => b"ex",
                b"F_RDLCK" => b"sh",
                _ => b"un",
            };
            let or0 = |b: &[u8]| match loose_int(b) {
                Some(v) if v.val() != 0 => Value::Int(v),
                _ => Value::int(0),
            };
            let mut trimmed = cmd;
            while let Some((&last, rest)) = trimmed.split_last() {
                if last == b'6' || last == b'4' {
                    trimmed = rest;
                } else {
                    break;
                }
            }
            let mut lock = Event::with_capacity(5);
            lock.set("op", Value::Sym(op));
            lock.set(
                "kind",
                Value::Sym(if cmd.starts_with(b"F_OFD") {
                    b"ofd"
                } else {
                    b"posix"
                }),
            );
            lock.set("start", or0(st));
            lock.set("len", or0(ln));
            lock.set("wait", Value::Bool(trimmed.ends_with(b"W")));
            ev.set("lock", Value::Map(lock));
            let o = fd.and_then(|f| r.fdts[tab].fds.get(&f).copied());
            if let (true, false, Some(o)) = (ok, op == b"un", o) {
                r.ofds[o].locked = true;
            }
        }
    }
    Ok(())
}

fn flock(r: &mut Resolver, pi: usize, t: &mut Args<'_>, ev: &mut Event, rel: &mut Vec<usize>) -> R {
    let tok = t.at(0)?;
    fd_event_path(r, pi, ev, tok);
    let how = t.at(1)?;
    let op: &'static [u8] = if contains(how, b"LOCK_EX") {
        b"ex"
    } else if contains(how, b"LOCK_SH") {
        b"sh"
    } else {
        b"un"
    };
    ev.set("flags", Value::str(how));
    let mut lock = Event::with_capacity(5);
    lock.set("op", Value::Sym(op));
    lock.set("kind", Value::Sym(b"flock"));
    lock.set("start", Value::int(0));
    lock.set("len", Value::int(0));
    lock.set("wait", Value::Bool(!contains(how, b"LOCK_NB")));
    ev.set("lock", Value::Map(lock));
    let tab = r.processes[pi].fdt;
    let fdv = ev.get("fd").cloned();
    let key = match &fdv {
        None => Some(-1),
        Some(v) => v.as_int(),
    };
    let mut o = key.and_then(|k| r.fdts[tab].fds.get(&k).copied());
    let ok = !ev.has_value("errno");
    if o.is_none() && ok {
        if let Some(f) = fdv.as_ref().and_then(Value::as_int) {
            let p = ev.get_str("path").map(<[u8]>::to_vec);
            let n = r.new_ofd(p);
            r.install(tab, f, n, false, rel, false);
            ev.set("ofd", Value::int(r.ofds[n].id));
            o = Some(n);
        }
    }
    if let (Some(o), false, true) = (o, op == b"un", ok) {
        r.ofds[o].locked = true;
    }
    Ok(())
}

fn chdir(r: &mut Resolver, pi: usize, c: &Call<'_>, t: &mut Args<'_>, ev: &mut Event) -> R {
    let path = if c.name == b"fchdir" {
        let tok = t.at(0)?;
        fd_event_path(r, pi, ev, tok);
        ev.get_str("path").map(<[u8]>::to_vec)
    } else {
        let tok = t.at(0)?;
        let p = r.path(pi, ev, None, tok, false);
        ev.set("path", opt_path(p.clone()));
        p
    };
    if !ev.has_value("errno") && ev.get("result") == Some(&Value::int(0)) {
        let fs = r.processes[pi].fs;
        r.fss[fs].cwd = path;
    }
    Ok(())
}

fn getcwd(r: &mut Resolver, pi: usize, t: &mut Args<'_>, ev: &mut Event) -> R {
    if ev.has_value("errno") {
        return Ok(());
    }
    let tok = t.at(0)?;
    if let Some((text, false)) = decode_string(tok) {
        if text.starts_with(b"/") {
            let p = normalize(text).into_owned();
            ev.set("path", Value::Str(p.clone()));
            let fs = r.processes[pi].fs;
            r.fss[fs].cwd = Some(p);
        }
    }
    Ok(())
}

fn one_path(r: &mut Resolver, pi: usize, c: &Call<'_>, t: &mut Args<'_>, ev: &mut Event) -> R {
    let tok = t.at(0)?;
    let p = r.path(pi, ev, None, tok, false);
    ev.set("path", opt_path(p));
    if matches!(c.name, b"mkdir" | b"chmod" | b"access" | b"mknod") {
        let f = t.get(1);
        ev.set(
            "flags",
            if f.is_empty() {
                Value::Null
            } else {
                Value::str(f)
            },
        );
    }
    Ok(())
}

fn at_path(r: &mut Resolver, pi: usize, c: &Call<'_>, t: &mut Args<'_>, ev: &mut Event) -> R {
    let d = t.at(0)?;
    let p = t.at(1)?;
    let path = r.path(pi, ev, Some(d), p, true);
    ev.set("path", opt_path(path));
    let d = t.at(0)?;
    if !d.starts_with(b"AT_FDCWD") {
        if let Some((fd, _)) = decode_fd(d) {
            ev.set("dirfd", Value::int(fd));
        }
    }
    let idx = match c.name {
        b"unlinkat" | b"mkdirat" | b"statx" => Some(2),
        b"newfstatat" | b"utimensat" | b"faccessat2" | b"fchmodat2" => Some(3),
        b"fchownat" => Some(4),
        _ => None,
    };
    if let Some(i) = idx {
        let f = t.get(i);
        ev.set(
            "flags",
            if f.is_empty() {
                Value::Null
            } else {
                Value::str(f)
            },
        );
    }
    Ok(())
}

fn text_of(tok: &[u8]) -> Value {
    match decode_string(tok) {
        Some((t, _)) => Value::Str(t.into_owned()),
        None => Value::Null,
    }
}

fn two_paths(r: &mut Resolver, pi: usize, c: &Call<'_>, t: &mut Args<'_>, ev: &mut Event) -> R {
    match c.name {
        b"rename" | b"link" => {
            let a = t.at(0)?;
            let p = r.path(pi, ev, None, a, false);
            ev.set("path", opt_path(p));
            let b = t.at(1)?;
            let p2 = r.path(pi, ev, None, b, false);
            ev.set("path2", opt_path(p2));
        }
        b"symlink" => {
            let a = t.at(0)?;
            ev.set("target", text_of(a));
            let b = t.at(1)?;
            let p = r.path(pi, ev, None, b, false);
            ev.set("path", opt_path(p));
        }
        b"symlinkat" => {
            let a = t.at(0)?;
            ev.set("target", text_of(a));
            let d = t.at(1)?;
            let b = t.at(2)?;
            let p = r.path(pi, ev, Some(d), b, false);
            ev.set("path", opt_path(p));
        }
        _ => {
            let d = t.at(0)?;
            let a = t.at(1)?;
            let p = r.path(pi, ev, Some(d), a, false);
            ev.set("path", opt_path(p));
            let d2 = t.at(2)?;
            let b = t.at(3)?;
            let p2 = r.path(pi, ev, Some(d2), b, false);
            ev.set("path2", opt_path(p2));
            if !t.get(4).is_empty() {
                let f = t.at(4)?;
                ev.set("flags", Value::str(f));
            }
        }
    }
    if c.name.starts_with(b"rename")
        && !ev.has_value("errno")
        && ev.get("result") == Some(&Value::int(0))
    {
        let old = ev.get_str("path").map(<[u8]>::to_vec);
        let new = ev.get_str("path2").map(<[u8]>::to_vec);
        if let (Some(old), Some(new)) = (old, new) {
            if !old.is_empty() && !new.is_empty() {
                let exchange = ev
                    .get_str("flags")
                    .is_some_and(|f| contains(f, b"RENAME_EXCHANGE"));
                r.follow_rename(&old, &new, exchange);
            }
        }
    }
    Ok(())
}
