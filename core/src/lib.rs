//! fsrace's compiled core (skeleton; the parser and importer land here).

use pyo3::prelude::*;

/// The `fsrace._core` extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
