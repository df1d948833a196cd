//! Switchyard load-test harness: drives a running Switchyard through its public gRPC APIs
//! with open-loop arrivals, measures latencies with HDR histograms, audits the routing
//! invariants from what the simulated partners and agents saw, and writes reports.

pub mod audit;
pub mod cli;
pub mod observe;
pub mod report;
pub mod result;
pub mod scenario;
pub mod schedule;
pub mod sim;
pub mod target;
