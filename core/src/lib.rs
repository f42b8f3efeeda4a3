//! fsrace compiled core: the strace line parser (and, growing, the
//! importer's state machine and path resolver), exposed to Python as
//! `fsrace._core`.  Safe code only; no input makes it panic.
#![forbid(unsafe_code)]

/// A faster allocator for the many small strings of events.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod import;
pub mod json;
pub mod parse;
mod py;
pub mod pyset;
pub mod resolve;

use pyo3::prelude::*;

/// Version of the core, the crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", VERSION)?;
    // True for an unoptimised build (tests check that installs are not).
    m.add("debug_build", cfg!(debug_assertions))?;
    py::register(m)?;
    Ok(())
}
