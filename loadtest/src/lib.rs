//! Switchyard load-test harness: drives a running Switchyard through its public gRPC APIs
//! with open-loop arrivals, measures latencies with HDR histograms, audits the routing
//! invariants from what the simulated partners and agents saw, and writes reports.

pub mod audit;
pub mod auth;
pub mod automessages_audit;
pub mod capacity_audit;
pub mod chaos;
pub mod cli;
pub mod launch;
pub mod local;
pub mod observe;
pub mod offers;
pub mod priority;
pub mod recovery;
pub mod report;
pub mod result;
pub mod retry;
pub mod scenario;
pub mod schedule;
pub mod sim;
pub mod target;
pub mod transfers;
