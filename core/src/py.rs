//! The Python bindings of the core (`fsrace._core`).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::parse::{parse_line, Line};

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

/// Register the module's functions and classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_parse_line, m)?)?;
    Ok(())
}
