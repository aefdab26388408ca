//! torale as a library: the pieces the `torale` binary is made of, public so that fuzz
//! targets and randomized tests can drive the same entry points the binary uses.

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod model;
pub mod output;
pub mod resolve;
pub mod terminal;
