//! torale as a library: the pieces the `torale` binary is made of, public so that fuzz
//! targets can drive the same entry points the binary uses.

pub mod cli;
pub mod client;
pub mod commands;
pub mod error;
pub mod model;
pub mod output;
pub mod settings;
pub mod terminal;
pub mod tls;
pub mod url;
