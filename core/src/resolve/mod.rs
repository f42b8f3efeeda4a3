//! The path resolver: per-process state that turns syscall arguments into
//! absolute paths (a transcription of `tracer/resolve.py`, the reference;
//! its docstring explains the model).  It is fed completed syscalls in log
//! order and pushes one event per call (plus synthetic `release` events)
//! to `out`; the importer numbers them.

pub mod args;
pub mod event;
mod handlers;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use indexmap::IndexMap;

use crate::pyset::PySet;
use args::{py_int, PyInt};
use event::{Event, Value};

/// Syscall names kept as constants in events (the ones fsrace traces).
pub const NAMES: &[&[u8]] = &[
    b"openat",
    b"close",
    b"newfstatat",
    b"statx",
    b"fstat",
    b"read",
    b"write",
    b"getdents64",
    b"access",
    b"faccessat2",
    b"readlink",
    b"readlinkat",
    b"unlink",
    b"unlinkat",
    b"rename",
    b"renameat",
    b"renameat2",
    b"mkdir",
    b"mkdirat",
    b"rmdir",
    b"link",
    b"linkat",
    b"symlink",
    b"symlinkat",
    b"clone",
    b"clone3",
    b"fork",
    b"vfork",
    b"execve",
    b"execveat",
    b"exit_group",
    b"wait4",
    b"waitid",
    b"open",
    b"openat2",
    b"creat",
    b"close_range",
    b"dup",
    b"dup2",
    b"dup3",
    b"fcntl",
    b"flock",
    b"chdir",
    b"fchdir",
    b"getcwd",
    b"stat",
    b"lstat",
    b"faccessat",
    b"getdents",
    b"truncate",
    b"ftruncate",
    b"utimensat",
    b"chmod",
    b"fchmod",
    b"fchmodat",
    b"fchmodat2",
    b"chown",
    b"lchown",
    b"fchown",
    b"fchownat",
    b"mknod",
    b"mknodat",
    b"exit",
];

/// One open file description (shared by dups and forks).
#[derive(Debug)]
pub struct OpenFile {
    /// Its id in events (`ofd`).
    pub id: i64,
    /// The path it was opened as (follows renames).
    pub path: Option<Vec<u8>>,
    refs: i64,
    locked: bool,
}

/// An fd table: fd -> open file, close-on-exec bits.
#[derive(Debug, Default)]
pub struct FdTable {
    fds: IndexMap<i64, usize>,
    cloexec: PySet,
    stale: HashMap<i64, usize>,
    users: i64,
}

/// A filesystem context (the cwd), shared by CLONE_FS.
#[derive(Debug)]
pub struct FsState {
    cwd: Option<Vec<u8>>,
    users: i64,
}

/// A traced process (thread group).
#[derive(Debug)]
pub struct Process {
    /// Its pid.
    pub pid: i64,
    /// Its identity (`"4242"`, `"4242~2"`).
    pub key: Arc<[u8]>,
    fdt: usize,
    fs: usize,
    /// Its threads.
    pub tids: PySet,
    /// Whether it has exited.
    pub exited: bool,
}

/// `proc_key` of `tracer/events.py`.
pub fn proc_key(pid: i64, n: i64) -> Arc<[u8]> {
    if n <= 1 {
        pid.to_string().into_bytes().into()
    } else {
        format!("{pid}~{n}").into_bytes().into()
    }
}

/// The resolver's state and counters.
#[derive(Debug, Default)]
pub struct Resolver {
    initial_cwd: Option<Vec<u8>>,
    /// Thread id -> process index.
    pub threads: HashMap<i64, usize>,
    /// Every process seen, in order.
    pub processes: Vec<Process>,
    incarnations: HashMap<i64, i64>,
    ofds: Vec<OpenFile>,
    live_ofds: HashSet<usize>,
    fdts: Vec<FdTable>,
    fss: Vec<FsState>,
    live_fs: HashSet<usize>,
    /// Path arguments seen.
    pub paths: i64,
    /// Path arguments that could not be resolved.
    pub unresolved: i64,
    /// Path arguments cut by `-s`.
    pub truncated: i64,
    /// fd arguments whose file is unknown.
    pub unknown_fds: i64,
    /// Processes created by fork/clone.
    pub child_processes: i64,
    /// Events emitted and not yet taken by the importer.
    pub out: Vec<Event>,
}

/// A completed syscall, as the importer hands it over.
pub struct Call<'a> {
    /// The thread.
    pub tid: i64,
    /// Syscall name.
    pub name: &'a [u8],
    /// Raw argument text.
    pub args: &'a [u8],
    /// Return token.
    pub ret: Option<&'a [u8]>,
    /// Errno name.
    pub errno: Option<&'a [u8]>,
    /// Enter time.
    pub ts: Option<f64>,
    /// Exit time.
    pub ts_end: Option<f64>,
    /// Decoded path decoration of the result.
    pub ret_path: Option<&'a [u8]>,
}

impl Resolver {
    /// A resolver; `initial_cwd` is the cwd of processes whose start the
    /// log does not show.
    pub fn new(initial_cwd: Option<Vec<u8>>) -> Self {
        Resolver {
            initial_cwd,
            ..Resolver::default()
        }
    }

    /// Register a process whose creation the log does not show.
    pub fn new_root(&mut self, tid: i64) -> usize {
        let fdt = self.new_fdt();
        let fs = self.new_fs(self.initial_cwd.clone());
        self.new_process(tid, fdt, fs)
    }

    fn new_fdt(&mut self) -> usize {
        self.fdts.push(FdTable {
            users: 1,
            ..FdTable::default()
        });
        self.fdts.len() - 1
    }

    fn new_fs(&mut self, cwd: Option<Vec<u8>>) -> usize {
        self.fss.push(FsState { cwd, users: 1 });
        let i = self.fss.len() - 1;
        self.live_fs.insert(i);
        i
    }

    fn new_process(&mut self, pid: i64, fdt: usize, fs: usize) -> usize {
        let n = self.incarnations.get(&pid).copied().unwrap_or(0) + 1;
        self.incarnations.insert(pid, n);
        self.processes.push(Process {
            pid,
            key: proc_key(pid, n),
            fdt,
            fs,
            tids: PySet::of(pid),
            exited: false,
        });
        let i = self.processes.len() - 1;
        self.threads.insert(pid, i);
        i
    }

    /// Give the process known under a placeholder tid its real pid.
    pub fn rebind(&mut self, old_tid: i64, new_tid: i64) {
        let Some(pi) = self.threads.remove(&old_tid) else {
            return;
        };
        let p = &mut self.processes[pi];
        p.tids.discard(old_tid);
        p.tids.add(new_tid);
        if p.pid == old_tid {
            p.pid = new_tid;
            p.key = proc_key(new_tid, 1);
        }
        self.threads.insert(new_tid, pi);
    }

    /// Indexes of the processes that have not exited.
    pub fn live_processes(&self) -> Vec<usize> {
        (0..self.processes.len())
            .filter(|&i| !self.processes[i].exited)
            .collect()
    }

    /// The newest process with this pid (live or exited).
    pub fn lookup(&self, pid: i64) -> Option<usize> {
        if let Some(&p) = self.threads.get(&pid) {
            return Some(p);
        }
        self.processes.iter().rposition(|p| p.pid == pid)
    }

    fn new_ofd(&mut self, path: Option<Vec<u8>>) -> usize {
        let id = self.ofds.len() as i64 + 1;
        self.ofds.push(OpenFile {
            id,
            path,
            refs: 0,
            locked: false,
        });
        let i = self.ofds.len() - 1;
        self.live_ofds.insert(i);
        i
    }

    fn install(
        &mut self,
        t: usize,
        fd: i64,
        ofd: usize,
        cloexec: bool,
        rel: &mut Vec<usize>,
        replaces: bool,
    ) {
        let old = self.fdts[t].fds.get(&fd).copied();
        if let Some(o) = old {
            if o != ofd {
                if replaces {
                    self.unref(o, rel);
                } else {
                    self.fdts[t].stale.insert(fd, o);
                }
            }
        }
        if old != Some(ofd) {
            self.ofds[ofd].refs += 1;
        }
        let tab = &mut self.fdts[t];
        tab.fds.insert(fd, ofd);
        if cloexec {
            tab.cloexec.add(fd);
        } else {
            tab.cloexec.discard(fd);
        }
    }

    fn unref(&mut self, ofd: usize, rel: &mut Vec<usize>) -> bool {
        let o = &mut self.ofds[ofd];
        o.refs -= 1;
        if o.refs <= 0 {
            self.live_ofds.remove(&ofd);
            if o.locked {
                rel.push(ofd);
            }
            return true;
        }
        false
    }

    fn drop_fd(&mut self, t: usize, fd: i64, rel: &mut Vec<usize>) -> Option<bool> {
        let tab = &mut self.fdts[t];
        let ofd = tab.fds.shift_remove(&fd);
        tab.cloexec.discard(fd);
        let ofd = ofd?;
        Some(self.unref(ofd, rel))
    }

    fn emit_releases(&mut self, pi: usize, tid: i64, ev: &Event, rel: &[usize]) {
        let p = &self.processes[pi];
        for &o in rel {
            let mut r = Event::with_capacity(9);
            r.set("seq", Value::int(0));
            r.set("type", Value::Sym(b"release"));
            r.set("ts", ev.get("ts").cloned().unwrap_or(Value::Null));
            r.set("pid", Value::int(p.pid));
            r.set("tid", Value::int(tid));
            r.set("proc", Value::Shared(p.key.clone()));
            r.set("ofd", Value::int(self.ofds[o].id));
            r.set("path", Value::opt_str(self.ofds[o].path.as_deref()));
            r.set("cause", ev.get("syscall").cloned().unwrap_or(Value::Null));
            self.out.push(r);
        }
    }

    fn follow_rename(&mut self, old: &[u8], new: &[u8], exchange: bool) {
        let moved = |path: &[u8]| -> Option<Vec<u8>> {
            let under = |p: &[u8], base: &[u8]| {
                p == base || (p.len() > base.len() && p.starts_with(base) && p[base.len()] == b'/')
            };
            if under(path, old) {
                Some([new, &path[old.len()..]].concat())
            } else if exchange && under(path, new) {
                Some([old, &path[new.len()..]].concat())
            } else {
                None
            }
        };
        for &i in &self.live_ofds {
            if let Some(p) = self.ofds[i].path.as_deref() {
                if let Some(m) = moved(p) {
                    self.ofds[i].path = Some(m);
                }
            }
        }
        for &i in &self.live_fs {
            if let Some(p) = self.fss[i].cwd.as_deref() {
                if let Some(m) = moved(p) {
                    self.fss[i].cwd = Some(m);
                }
            }
        }
    }

    /// Process one completed syscall.
    pub fn call(&mut self, c: &Call<'_>) {
        let pi = match self.threads.get(&c.tid) {
            Some(&p) => p,
            None => self.new_root(c.tid),
        };
        let result = match c.ret {
            None => Value::Null,
            Some(r) => match py_int(r, 10) {
                Some(v) => Value::Int(v),
                None if r.starts_with(b"0x") => py_int(r, 16).map_or(Value::str(r), Value::Int),
                None => Value::str(r),
            },
        };
        let p = &self.processes[pi];
        let mut ev = Event::with_capacity(16);
        ev.push("seq", Value::int(0));
        ev.push("type", Value::Sym(b"syscall"));
        ev.push("ts", Value::opt_float(c.ts));
        ev.push("pid", Value::int(p.pid));
        ev.push("tid", Value::int(c.tid));
        ev.push("proc", Value::Shared(p.key.clone()));
        ev.push("syscall", Value::name(c.name));
        ev.push("result", result);
        if let Some(e) = c.ts_end {
            ev.push("ts_end", Value::Float(e));
        }
        if let Some(e) = c.errno {
            ev.push("errno", Value::str(e));
        }
        ev.push("args", Value::str(c.args));
        let mut rel = Vec::new();
        let mut toks = args::Args::new(c.args);
        let r = handlers::dispatch(self, pi, c, &mut toks, &mut ev, &mut rel);
        if r.is_err() {
            ev.set("incomplete", Value::Bool(true));
        }
        if rel.is_empty() {
            self.out.push(ev);
        } else {
            let evc = ev.clone();
            self.out.push(ev);
            self.emit_releases(pi, c.tid, &evc, &rel);
        }
    }

    /// A thread or process ended.
    pub fn exited(
        &mut self,
        tid: i64,
        code: Option<i64>,
        signal: Option<&[u8]>,
        core: bool,
        ts: Option<f64>,
    ) {
        let pi = match self.threads.get(&tid) {
            Some(&p) => p,
            None => self.new_root(tid),
        };
        {
            let p = &mut self.processes[pi];
            if tid != p.pid && p.tids.contains(p.pid) {
                p.tids.discard(tid);
                self.threads.remove(&tid);
                return;
            }
        }
        let mut rel = Vec::new();
        let t = self.processes[pi].fdt;
        self.fdts[t].users -= 1;
        if self.fdts[t].users <= 0 {
            let fds: Vec<i64> = self.fdts[t].fds.keys().copied().collect();
            for fd in fds {
                self.drop_fd(t, fd, &mut rel);
            }
        }
        let f = self.processes[pi].fs;
        self.fss[f].users -= 1;
        if self.fss[f].users <= 0 {
            self.live_fs.remove(&f);
        }
        self.processes[pi].exited = true;
        for t in self.processes[pi].tids.items() {
            if self.threads.get(&t) == Some(&pi) {
                self.threads.remove(&t);
            }
        }
        let p = &self.processes[pi];
        let mut ev = Event::with_capacity(10);
        ev.set("seq", Value::int(0));
        ev.set("type", Value::Sym(b"exit"));
        ev.set("ts", Value::opt_float(ts));
        ev.set("pid", Value::int(p.pid));
        ev.set("tid", Value::int(tid));
        ev.set("proc", Value::Shared(p.key.clone()));
        match signal {
            Some(s) => {
                ev.set("signal", Value::str(s));
                ev.set("core", Value::Bool(core));
            }
            None => ev.set("code", code.map_or(Value::Null, Value::int)),
        }
        if !rel.is_empty() {
            ev.set(
                "released_ofds",
                Value::List(rel.iter().map(|&o| Value::int(self.ofds[o].id)).collect()),
            );
            ev.set(
                "released_paths",
                Value::List(
                    rel.iter()
                        .map(|&o| Value::opt_str(self.ofds[o].path.as_deref()))
                        .collect(),
                ),
            );
        }
        self.out.push(ev);
    }

    /// A signal was delivered to thread `tid`.
    pub fn signal(&mut self, tid: i64, name: &[u8], info: &[u8], ts: Option<f64>) {
        let pi = match self.threads.get(&tid) {
            Some(&p) => p,
            None => self.new_root(tid),
        };
        let p = &self.processes[pi];
        let mut ev = Event::with_capacity(8);
        ev.set("seq", Value::int(0));
        ev.set("type", Value::Sym(b"signal"));
        ev.set("ts", Value::opt_float(ts));
        ev.set("pid", Value::int(p.pid));
        ev.set("tid", Value::int(tid));
        ev.set("proc", Value::Shared(p.key.clone()));
        ev.set("signal", Value::str(name));
        ev.set("info", Value::str(info));
        self.out.push(ev);
    }
}

/// `int(text)` of a digits-only capture.
pub fn int_of(text: &[u8]) -> Value {
    py_int(text, 10).map_or(Value::Null, Value::Int)
}

/// A PyInt as a Value.
pub fn int_value(v: Option<PyInt>) -> Value {
    v.map_or(Value::Null, Value::Int)
}
