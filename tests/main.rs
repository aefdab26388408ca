//! The integration tests, one binary: each module is a story of a user's commands, run with the
//! real `torale` binary against the in-repo fake Torale API (`support/`).

mod support;

mod api;
mod apply;
mod auth;
mod cli;
mod completion;
mod config;
mod faults;
mod hardening;
mod static_binary;
mod tables;
mod task;
mod templates;

mod release;
