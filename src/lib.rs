//! torale as a library: the pieces the `torale` binary is made of, public so that fuzz
//! targets and randomized tests can drive the same entry points the binary uses.

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod error;
pub mod model;
pub mod output;
pub mod terminal;
pub mod url;

/// The client's module under its former name, for the tests written before the rename;
/// remove once they import `torale::client`.
#[doc(hidden)]
pub use client as api;
