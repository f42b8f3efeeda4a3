//! The importer's state machine (a transcription of `StraceImporter` and of
//! the single-file line loop of `stream_strace` in
//! `tracer/strace_import.py`): cut bytes into lines, parse them, decide
//! which thread each belongs to (holding back threads whose creating clone
//! has not returned), join unfinished/resumed halves, hand complete calls
//! to the resolver, number the events.

use indexmap::IndexMap;

use crate::parse::text::{find, is_space, py_prefix, strip};
use crate::parse::{parse_line, Kind, Line, TsKind};
use crate::pyset::PySet;
use crate::resolve::event::{Event, Value};
use crate::resolve::{args::py_int, Call, Resolver};

/// The thread id of lines without a pid column.
pub const PLACEHOLDER: i64 = -1;
/// A UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xef\xbb\xbf";
/// How many unparsed lines are kept as samples.
pub const SAMPLES: usize = 10;
/// Events held back while the first process's pid is unknown.
pub const HOLD_LIMIT: usize = 200_000;

/// What the importer saw (the trailer's counts).
#[derive(Debug, Default)]
pub struct Stats {
    /// Lines read.
    pub lines_read: u64,
    /// Events emitted.
    pub events: i64,
    /// Lines that are not strace output.
    pub unparsed: u64,
    /// (line number, first 200 characters) of the first unparsed lines.
    pub samples: Vec<(u64, Vec<u8>)>,
    /// Resumed lines without their start.
    pub unmatched_resumed: u64,
    /// Calls still unfinished at the end.
    pub unfinished_at_end: u64,
    /// Warnings for the trailer.
    pub warnings: Vec<String>,
    /// Whether any line had a pid column.
    pub saw_pid_column: bool,
    /// The first timestamp style seen.
    pub clock: Option<TsKind>,
}

struct Start {
    name: Vec<u8>,
    args: Vec<u8>,
    ts: Option<f64>,
}

/// A held-back line: its bytes and the pid of its `-ff` file.
type Held = (Vec<u8>, Option<i64>);

/// The importer.
pub struct Importer {
    /// Counts for the trailer.
    pub stats: Stats,
    /// The resolver.
    pub res: Resolver,
    seq: i64,
    held: Option<Vec<Event>>,
    unfinished: IndexMap<i64, Start>,
    pending: IndexMap<i64, Vec<Held>>,
    placeholder_bound: Option<i64>,
    last_clock: f64,
    day: f64,
    relative_sum: f64,
    /// Events written, waiting to be taken.
    pub out: Vec<Event>,
    tail: Vec<u8>,
    head: Vec<u8>,
    lineno: u64,
}

const CLONES: [&[u8]; 4] = [b"clone", b"clone3", b"fork", b"vfork"];

impl Importer {
    /// A new importer; `initial_cwd` as for the resolver.
    pub fn new(initial_cwd: Option<Vec<u8>>) -> Self {
        Importer {
            stats: Stats::default(),
            res: Resolver::new(initial_cwd),
            seq: 0,
            held: None,
            unfinished: IndexMap::new(),
            pending: IndexMap::new(),
            placeholder_bound: None,
            last_clock: 0.0,
            day: 0.0,
            relative_sum: 0.0,
            out: Vec::new(),
            tail: Vec::new(),
            head: Vec::new(),
            lineno: 0,
        }
    }

    // ------------------------------------------------------------ bytes

    /// Feed a block of the log (any chunking; a partial last line is kept).
    pub fn feed_bytes(&mut self, data: &[u8]) {
        let mut rest = data;
        if !self.tail.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                None => {
                    self.tail.extend_from_slice(rest);
                    return;
                }
                Some(i) => {
                    let mut line = std::mem::take(&mut self.tail);
                    line.extend_from_slice(&rest[..=i]);
                    self.text_line(&line);
                    rest = &rest[i + 1..];
                }
            }
        }
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.text_line(&rest[..=i]);
            rest = &rest[i + 1..];
        }
        self.tail.extend_from_slice(rest);
    }

    /// One line of a single log, as the loop of `stream_strace` treats it.
    fn text_line(&mut self, raw: &[u8]) {
        self.lineno += 1;
        self.stats.lines_read += 1;
        // CRLF endings become LF, a BOM before the first line is dropped
        // (`_Source.lines`).
        let crlf;
        let mut raw = raw;
        if raw.ends_with(b"\r\n") {
            crlf = [&raw[..raw.len() - 2], b"\n"].concat();
            raw = &crlf;
        }
        if self.lineno == 1 {
            raw = raw.strip_prefix(BOM).unwrap_or(raw);
        }
        let joined;
        let mut text = raw;
        if !self.head.is_empty() {
            let mut h = std::mem::take(&mut self.head);
            h.extend_from_slice(raw);
            joined = h;
            text = &joined;
        }
        if find(text, b"tached", 0).is_some() {
            if let Some(start) = attach_inside(text) {
                self.head = text[..start].to_vec();
                return;
            }
        }
        let pl = if text.ends_with(b"\n") {
            parse_line(text)
        } else {
            None
        };
        match pl {
            Some(pl) => self.feed(&pl, text, None),
            None => {
                if !strip(text).is_empty() {
                    self.note_unparsed(self.lineno, text);
                }
            }
        }
    }

    /// Count an unparsed line and keep a sample.
    pub fn note_unparsed(&mut self, lineno: u64, text: &[u8]) {
        self.stats.unparsed += 1;
        if self.stats.samples.len() < SAMPLES {
            self.stats
                .samples
                .push((lineno, py_prefix(text, 200).to_vec()));
        }
    }

    /// One line of a `-ff` file whose pid is `pid` (merged by the caller);
    /// returns false when the line is not strace output (the caller counts it).
    pub fn feed_ff_line(&mut self, raw: &[u8], pid: i64) -> bool {
        match parse_line(raw) {
            Some(mut pl) => {
                pl.pid = Some(pid);
                self.feed(&pl, raw, Some(pid));
                true
            }
            None => false,
        }
    }

    /// End of input: the partial last line, held lines, open calls.
    pub fn finish(&mut self) {
        if !self.tail.is_empty() {
            let t = std::mem::take(&mut self.tail);
            self.text_line(&t);
        }
        if !self.pending.is_empty() {
            self.drain_pending();
        }
        let open: Vec<(i64, Start)> = self.unfinished.drain(..).collect();
        for (tid, start) in open {
            self.stats.unfinished_at_end += 1;
            self.flush_unfinished(tid, &start);
        }
        if self.held.is_some() {
            self.release_held(None);
        }
        if !self.stats.saw_pid_column && self.res.child_processes > 0 {
            self.stats.warnings.push(
                "the log has no pid column but the program created child processes: \
                 all lines were attributed to one process, so processes cannot be told \
                 apart and races between them cannot be judged (record with 'strace -f \
                 -o FILE', which writes the pid on every line)"
                    .to_string(),
            );
        }
        self.stats.events = self.seq;
    }

    // ---------------------------------------------------------- emission

    fn drain_resolver(&mut self) {
        if self.res.out.is_empty() {
            return;
        }
        let mut evs = std::mem::take(&mut self.res.out);
        for mut ev in evs.drain(..) {
            self.seq += 1;
            ev.set("seq", Value::int(self.seq));
            match self.held.as_mut() {
                Some(h) => {
                    h.push(ev);
                    if h.len() >= HOLD_LIMIT {
                        self.release_held(None);
                    }
                }
                None => self.out.push(ev),
            }
        }
        // keep the allocation for the next call
        if self.res.out.is_empty() {
            self.res.out = evs;
        }
    }

    fn release_held(&mut self, real: Option<i64>) {
        let Some(mut held) = self.held.take() else {
            return;
        };
        match real {
            Some(pid) => {
                let key: std::sync::Arc<[u8]> = pid.to_string().into_bytes().into();
                let ph = PLACEHOLDER.to_string().into_bytes();
                for ev in held.iter_mut() {
                    for f in ["pid", "tid", "child"] {
                        if ev.get(f) == Some(&Value::int(PLACEHOLDER)) {
                            ev.set(f, Value::int(pid));
                        }
                    }
                    for f in ["proc", "child_proc"] {
                        if ev.get_str(f) == Some(&ph[..]) {
                            ev.set(f, Value::Shared(key.clone()));
                        }
                    }
                }
            }
            None => self.stats.warnings.push(format!(
                "the first process's pid never appeared in the log: its events are \
                 recorded with pid {PLACEHOLDER}"
            )),
        }
        self.out.append(&mut held);
    }

    // ------------------------------------------------------------- times

    fn time(&mut self, pl: &Line<'_>) -> Option<f64> {
        let ts = pl.ts?;
        match pl.ts_kind {
            Some(TsKind::Unix) => Some(ts),
            Some(TsKind::Relative) => {
                self.relative_sum += ts;
                Some(self.relative_sum)
            }
            _ => {
                if ts + self.day < self.last_clock - 43200.0 {
                    self.day += 86400.0;
                }
                let v = ts + self.day;
                self.last_clock = v;
                Some(v)
            }
        }
    }

    // ------------------------------------------------------------- lines

    /// Consume one parsed line (`raw` is its text, kept if it is held back).
    fn feed(&mut self, pl: &Line<'_>, raw: &[u8], ff_pid: Option<i64>) {
        let tid = match pl.pid {
            None => self.unprefixed_tid(),
            Some(p) => {
                self.stats.saw_pid_column = true;
                p
            }
        };
        if self.stats.clock.is_none() && pl.ts_kind.is_some() {
            self.stats.clock = pl.ts_kind;
        }
        if matches!(pl.kind, Kind::Attached | Kind::Info) {
            return;
        }
        if !self.res.threads.contains_key(&tid) && !self.admit(tid, pl, raw, ff_pid) {
            return;
        }
        self.dispatch(tid, pl);
    }

    fn refeed(&mut self, held: Vec<Held>) {
        for (raw, pid) in held {
            if let Some(mut pl) = parse_line(&raw) {
                if pid.is_some() {
                    pl.pid = pid;
                }
                self.feed(&pl, &raw, pid);
            }
        }
    }

    fn unprefixed_tid(&self) -> i64 {
        let Some(bound) = self.placeholder_bound else {
            return PLACEHOLDER;
        };
        if self.res.threads.contains_key(&bound) {
            return bound;
        }
        let live = self.res.live_processes();
        if live.len() == 1 {
            self.res.processes[live[0]].pid
        } else {
            bound
        }
    }

    fn pending_clone(&self) -> bool {
        self.unfinished
            .values()
            .any(|s| CLONES.contains(&&s.name[..]))
    }

    fn admit(&mut self, tid: i64, pl: &Line<'_>, raw: &[u8], ff_pid: Option<i64>) -> bool {
        if let Some(v) = self.pending.get_mut(&tid) {
            v.push((raw.to_vec(), ff_pid));
            return false;
        }
        if tid == PLACEHOLDER {
            self.res.new_root(PLACEHOLDER);
            self.held = Some(Vec::new());
            return true;
        }
        if self.res.threads.contains_key(&PLACEHOLDER) && self.placeholder_bound.is_none() {
            let same = pl.kind == Kind::Resumed
                && self
                    .unfinished
                    .get(&PLACEHOLDER)
                    .is_some_and(|s| Some(&s.name[..]) == pl.name);
            if same || !self.pending_clone() {
                self.bind_placeholder(tid);
                return true;
            }
        }
        if self.pending_clone() {
            self.pending.insert(tid, vec![(raw.to_vec(), ff_pid)]);
            return false;
        }
        self.res.new_root(tid);
        true
    }

    fn bind_placeholder(&mut self, tid: i64) {
        self.res.rebind(PLACEHOLDER, tid);
        if let Some(s) = self.unfinished.shift_remove(&PLACEHOLDER) {
            self.unfinished.insert(tid, s);
        }
        self.placeholder_bound = Some(tid);
        self.release_held(Some(tid));
    }

    fn dispatch(&mut self, tid: i64, pl: &Line<'_>) {
        match pl.kind {
            Kind::Call => {
                let mut name = pl.name.unwrap_or(b"");
                let mut args = pl.args;
                if name == b"restart_syscall" {
                    if let Some(m) = resuming(args) {
                        if m == b"wait4" || m == b"waitid" {
                            name = m;
                            args = b"";
                        }
                    }
                }
                let ts = self.time(pl);
                self.complete(tid, name, args, pl, ts, None);
            }
            Kind::Unfinished => {
                let key = match pl.pid_in_text {
                    Some(p) if p != 0 => p,
                    _ => tid,
                };
                let ts = self.time(pl);
                let s = Start {
                    name: pl.name.unwrap_or(b"").to_vec(),
                    args: pl.args.to_vec(),
                    ts,
                };
                self.unfinished.insert(key, s);
            }
            Kind::Resumed => {
                let name = pl.name.unwrap_or(b"");
                let start = self.unfinished.shift_remove(&tid);
                match start {
                    Some(s) if s.name == name => {
                        let end = self.time(pl);
                        let mut args = s.args;
                        args.extend_from_slice(pl.args);
                        self.complete(tid, name, &args, pl, s.ts, end);
                    }
                    other => {
                        self.stats.unmatched_resumed += 1;
                        if let Some(s) = other {
                            self.flush_unfinished(tid, &s);
                        }
                        let ts = self.time(pl);
                        self.complete(tid, name, pl.args, pl, ts, None);
                    }
                }
            }
            Kind::Exited | Kind::Killed => {
                let tids = match self.res.threads.get(&tid) {
                    Some(&pi) if self.res.processes[pi].pid == tid => {
                        self.res.processes[pi].tids.clone()
                    }
                    _ => PySet::of(tid),
                };
                for t in tids.items() {
                    if let Some(s) = self.unfinished.shift_remove(&t) {
                        self.flush_unfinished(t, &s);
                    }
                }
                let ts = self.time(pl);
                let sig = if pl.kind == Kind::Killed {
                    pl.name
                } else {
                    None
                };
                self.res.exited(tid, pl.status, sig, pl.core, ts);
                self.drain_resolver();
            }
            Kind::Signal => {
                let name = match pl.name {
                    Some(n) if !n.is_empty() => n,
                    _ => b"?",
                };
                let ts = self.time(pl);
                self.res.signal(tid, name, pl.args, ts);
                self.drain_resolver();
            }
            Kind::Detached => {
                if let Some(s) = self.unfinished.shift_remove(&tid) {
                    self.flush_unfinished(tid, &s);
                } else if let Some(name) = pl.name.filter(|n| !n.is_empty()) {
                    let ts = self.time(pl);
                    self.res.call(&Call {
                        tid,
                        name,
                        args: pl.args,
                        ret: None,
                        errno: None,
                        ts,
                        ts_end: None,
                        ret_path: None,
                    });
                    self.drain_resolver();
                }
            }
            Kind::Attached | Kind::Info => {}
        }
    }

    fn complete(
        &mut self,
        tid: i64,
        name: &[u8],
        args: &[u8],
        pl: &Line<'_>,
        ts: Option<f64>,
        ts_end: Option<f64>,
    ) {
        let mut ts_end = ts_end;
        if ts_end.is_none() {
            if let (Some(d), Some(t)) = (pl.duration, ts) {
                ts_end = Some(t + d);
            }
        }
        self.res.call(&Call {
            tid,
            name,
            args,
            ret: pl.ret,
            errno: pl.errno,
            ts,
            ts_end,
            ret_path: pl.ret_path.as_deref(),
        });
        self.drain_resolver();
        if CLONES.contains(&name) {
            if let Some(r) = pl.ret {
                self.on_clone_result(r);
            }
        }
    }

    fn flush_unfinished(&mut self, tid: i64, s: &Start) {
        self.res.call(&Call {
            tid,
            name: &s.name,
            args: &s.args,
            ret: None,
            errno: None,
            ts: s.ts,
            ts_end: None,
            ret_path: None,
        });
        self.drain_resolver();
    }

    fn on_clone_result(&mut self, ret: &[u8]) {
        let child = py_int(ret, 10).map_or(-2, |v| v.val());
        if let Some(lines) = self.pending.shift_remove(&child) {
            self.refeed(lines);
        }
        if !self.pending.is_empty() && !self.pending_clone() {
            self.drain_pending();
        }
    }

    fn drain_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for (_tid, lines) in pending {
            self.refeed(lines);
        }
    }
}

/// `resuming interrupted (\w+)`, searched.
fn resuming(args: &[u8]) -> Option<&[u8]> {
    let mut from = 0;
    while let Some(i) = find(args, b"resuming interrupted ", from) {
        let a = i + 21;
        let n = args[a..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        if n > 0 {
            return Some(&args[a..a + n]);
        }
        from = i + 1;
    }
    None
}

/// `_ATTACH_INSIDE`, searched: where a `strace: Process N attached` that
/// ends the line starts (with the path of the program that printed it).
fn attach_inside(text: &[u8]) -> Option<usize> {
    let mut from = 0;
    let mut s0 = None;
    while let Some(i) = find(text, b"strace: Process ", from) {
        if process_tail(&text[i + 16..]) {
            s0 = Some(i);
            break;
        }
        from = i + 1;
    }
    let s0 = s0?;
    // (?:/(?:[^\s/(]+/)*)? just before: the leftmost start
    let mut start = s0;
    if s0 > 0 && text[s0 - 1] == b'/' {
        start = s0 - 1;
        let mut k = s0 - 1;
        loop {
            // a segment [^\s/(]+ ending at k, preceded by '/'
            let mut j = k;
            while j > 0 && !is_space(text[j - 1]) && text[j - 1] != b'/' && text[j - 1] != b'(' {
                j -= 1;
            }
            if j < k && j > 0 && text[j - 1] == b'/' {
                start = j - 1;
                k = j - 1;
            } else {
                break;
            }
        }
    }
    Some(start)
}

/// `\d+ (?:attached|detached)(?: with \d+ threads)?\n?\Z`.
fn process_tail(t: &[u8]) -> bool {
    let d = t.iter().take_while(|b| b.is_ascii_digit()).count();
    if d == 0 {
        return false;
    }
    let r = &t[d..];
    let Some(r) = r
        .strip_prefix(b" attached")
        .or_else(|| r.strip_prefix(b" detached"))
    else {
        return false;
    };
    let r = r.strip_suffix(b"\n").unwrap_or(r);
    if r.is_empty() {
        return true;
    }
    match r
        .strip_prefix(b" with ")
        .and_then(|x| x.strip_suffix(b" threads"))
    {
        Some(n) => !n.is_empty() && n.iter().all(u8::is_ascii_digit),
        None => false,
    }
}
