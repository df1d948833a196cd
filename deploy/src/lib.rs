//! `switchyard-local`: Switchyard's distributed topology on one machine, without containers.
//! redis-server, the tansu Kafka broker and every service of the registry each run as their
//! own process, detached from the runner, with logs and configs in a run directory and the pids in its
//! `state.json`. See deploy/README.md.

pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod control;
pub mod layout;
pub mod lock;
pub mod net;
pub mod prereq;
pub mod process;
pub mod restart;
pub mod state;
pub mod up;
