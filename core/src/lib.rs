//! fsrace compiled core (skeleton). The strace parser, importer state
//! machine and path resolver move here; see issue 14.
#![forbid(unsafe_code)]

use pyo3::prelude::*;

/// Version of the core, the crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", VERSION)?;
    Ok(())
}
