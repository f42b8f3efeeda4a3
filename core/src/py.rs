//! The Python bindings of the core (`fsrace._core`).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::import::Importer;
use crate::parse::{parse_line, Line};
use crate::pyset::PySet;
use crate::resolve::args::PyInt;
use crate::resolve::event::{Event, Value};

/// Bytes to `str` as Python's `bytes.decode("utf-8", "surrogateescape")`.
pub fn py_str<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(PyString::new(py, s).into_any()),
        Err(_) => {
            let raw = PyBytes::new(py, b);
            Ok(PyString::from_encoded_object(
                raw.as_any(),
                Some(c"utf-8"),
                Some(c"surrogateescape"),
            )?
            .into_any())
        }
    }
}

fn opt_str<'py>(py: Python<'py>, b: Option<&[u8]>) -> PyResult<Bound<'py, PyAny>> {
    match b {
        Some(b) => py_str(py, b),
        None => Ok(py.None().into_bound(py)),
    }
}

/// The fields of a parsed line in the order of the Python `ParsedLine`
/// constructor: (pid, ts, ts_kind, kind, name, args, ret, ret_path, errno,
/// duration, status, core, pid_in_text).
fn line_tuple<'py>(py: Python<'py>, l: &Line<'_>) -> PyResult<Bound<'py, PyTuple>> {
    let items: Vec<Bound<'py, PyAny>> = vec![
        l.pid.into_pyobject(py)?.into_any(),
        l.ts.into_pyobject(py)?.into_any(),
        opt_str(py, l.ts_kind.map(|k| k.as_str().as_bytes()))?,
        PyString::new(py, l.kind.as_str()).into_any(),
        opt_str(py, l.name)?,
        py_str(py, l.args)?,
        opt_str(py, l.ret)?,
        opt_str(py, l.ret_path.as_deref())?,
        opt_str(py, l.errno)?,
        l.duration.into_pyobject(py)?.into_any(),
        l.status.into_pyobject(py)?.into_any(),
        l.core.into_pyobject(py)?.to_owned().into_any(),
        l.pid_in_text.into_pyobject(py)?.into_any(),
    ];
    PyTuple::new(py, items)
}

/// Parse one strace line (bytes, with or without its newline): the tuple of
/// `ParsedLine` fields, or None when strace does not write such a line.
#[pyfunction(name = "parse_line")]
fn py_parse_line<'py>(py: Python<'py>, line: &[u8]) -> PyResult<Option<Bound<'py, PyTuple>>> {
    match parse_line(line) {
        Some(l) => Ok(Some(line_tuple(py, &l)?)),
        None => Ok(None),
    }
}

fn value<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Int(PyInt::Small(i)) => i.into_pyobject(py)?.into_any(),
        Value::Int(PyInt::Big(s)) => py.get_type::<pyo3::types::PyInt>().call1((s.as_str(),))?,
        Value::Float(f) => f.into_pyobject(py)?.into_any(),
        Value::Str(b) => py_str(py, b)?,
        Value::Sym(b) => py_str(py, b)?,
        Value::Shared(b) => py_str(py, b)?,
        Value::List(items) => {
            let l = PyList::empty(py);
            for it in items {
                l.append(value(py, it)?)?;
            }
            l.into_any()
        }
        Value::Map(ev) => event(py, ev)?.into_any(),
    })
}

fn event<'py>(py: Python<'py>, ev: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in &ev.fields {
        d.set_item(PyString::intern(py, k), value(py, v)?)?;
    }
    Ok(d)
}

/// The Rust importer: feed it the bytes of one strace log (any chunking),
/// or the merged lines of `-ff` files, and take the events as dicts, the
/// same ones the Python importer emits.
#[pyclass(name = "Importer", module = "fsrace._core")]
struct PyImporter {
    inner: Importer,
    /// The JSON text of a block, kept between blocks (its pages stay mapped).
    jbuf: Vec<u8>,
}

impl PyImporter {
    fn take_json<'py>(&mut self, py: Python<'py>) -> (Bound<'py, PyBytes>, usize) {
        let buf = &mut self.jbuf;
        buf.clear();
        let n = self.inner.out.len();
        for ev in self.inner.out.drain(..) {
            crate::json::event(buf, &ev);
            buf.push(b'\n');
        }
        let bytes = PyBytes::new(py, buf);
        // a block of an unusual size does not keep its memory for good
        if buf.capacity() > 64 << 20 {
            *buf = Vec::new();
        }
        (bytes, n)
    }

    fn take<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let l = PyList::empty(py);
        for ev in self.inner.out.drain(..) {
            l.append(event(py, &ev)?)?;
        }
        Ok(l)
    }
}

#[pymethods]
impl PyImporter {
    /// `Importer(initial_cwd=None)`; `initial_cwd` is bytes (os.fsencode).
    #[new]
    #[pyo3(signature = (initial_cwd=None))]
    fn new(initial_cwd: Option<Vec<u8>>) -> Self {
        PyImporter {
            inner: Importer::new(initial_cwd),
            jbuf: Vec::new(),
        }
    }

    /// Feed a block of the log; returns the events it completed.
    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
        self.inner.feed_bytes(data);
        self.take(py)
    }

    /// Feed a block; returns its events as JSON Lines (ASCII bytes, each
    /// line what `json.dumps(event, separators=(",", ":"))` writes) and
    /// their number.
    fn feed_json<'py>(&mut self, py: Python<'py>, data: &[u8]) -> (Bound<'py, PyBytes>, usize) {
        self.inner.feed_bytes(data);
        self.take_json(py)
    }

    /// `finish()`, the last events as JSON Lines.
    fn finish_json<'py>(&mut self, py: Python<'py>) -> (Bound<'py, PyBytes>, usize) {
        self.inner.finish();
        self.take_json(py)
    }

    /// Feed a block and drop its events inside the core; returns how many
    /// (benchmarks: the core's own cost, without building Python objects).
    fn feed_discard(&mut self, data: &[u8]) -> usize {
        self.inner.feed_bytes(data);
        let n = self.inner.out.len();
        self.inner.out.clear();
        n
    }

    /// Feed one line of a `-ff` file of process `pid`; returns
    /// (understood, events).
    fn feed_ff_line<'py>(
        &mut self,
        py: Python<'py>,
        line: &[u8],
        pid: i64,
    ) -> PyResult<(bool, Bound<'py, PyList>)> {
        let ok = self.inner.feed_ff_line(line, pid);
        Ok((ok, self.take(py)?))
    }

    /// Count an unparsed line of a `-ff` file (the caller read it).
    fn note_unparsed(&mut self, lineno: u64, text: &[u8]) {
        self.inner.note_unparsed(lineno, text);
    }

    /// Count lines the caller read itself (`-ff` files).
    fn add_lines(&mut self, n: u64) {
        self.inner.stats.lines_read += n;
    }

    /// End of input; returns the last events.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.inner.finish();
        self.take(py)
    }

    /// The counts for the trailer, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.inner.stats;
        let r = &self.inner.res;
        let d = PyDict::new(py);
        d.set_item("lines_read", s.lines_read)?;
        d.set_item("events", s.events)?;
        d.set_item("unparsed", s.unparsed)?;
        let samples = PyList::empty(py);
        for (n, t) in &s.samples {
            samples.append((n, py_str(py, t)?))?;
        }
        d.set_item("unparsed_samples", samples)?;
        d.set_item("unmatched_resumed", s.unmatched_resumed)?;
        d.set_item("unfinished_at_end", s.unfinished_at_end)?;
        d.set_item("warnings", PyList::new(py, &s.warnings)?)?;
        d.set_item("saw_pid_column", s.saw_pid_column)?;
        d.set_item("clock", s.clock.map(|k| k.as_str()))?;
        d.set_item("paths", r.paths)?;
        d.set_item("unresolved", r.unresolved)?;
        d.set_item("truncated", r.truncated)?;
        d.set_item("unknown_fds", r.unknown_fds)?;
        d.set_item("processes", r.processes.len())?;
        d.set_item("child_processes", r.child_processes)?;
        Ok(d)
    }
}

/// Test hook: the iteration order of a set built by `ops` (positive n:
/// add n-1... see tests/test_core_import.py): (op, value) pairs, op 0 add,
/// 1 discard, 2 copy.
#[pyfunction]
fn _set_order(ops: Vec<(u8, i64)>) -> Vec<i64> {
    let mut s = PySet::default();
    for (op, v) in ops {
        match op {
            0 => s.add(v),
            1 => s.discard(v),
            _ => s = s.copy(),
        }
    }
    s.items()
}

/// Register the module's functions and classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_parse_line, m)?)?;
    m.add_function(wrap_pyfunction!(_set_order, m)?)?;
    m.add_class::<PyImporter>()?;
    Ok(())
}
