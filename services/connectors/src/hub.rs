//! Streams connected to this replica: agent event streams by (account, agent), and wake-ups
//! for partner outbound streams by account. Fed by the per-replica fan-out consumer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchyard_proto::agent::v1::AgentEvent;
use tokio::sync::{mpsc, Notify};

/// Events buffered per agent stream before the stream is dropped as too slow (the agent
/// reconnects and gets its assignments again from the snapshot).
pub const AGENT_STREAM_BUFFER: usize = 1024;

/// (account, agent) -> the agent's streams on this replica.
type AgentStreams = HashMap<(String, String), Vec<mpsc::Sender<AgentEvent>>>;

#[derive(Default)]
pub struct Hub {
    agents: Mutex<AgentStreams>,
    partners: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Hub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn register_agent(&self, account_id: &str, agent_id: &str) -> mpsc::Receiver<AgentEvent> {
        let (tx, rx) = mpsc::channel(AGENT_STREAM_BUFFER);
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        agents.entry((account_id.to_owned(), agent_id.to_owned())).or_default().push(tx);
        rx
    }

    pub fn has_agent(&self, account_id: &str, agent_id: &str) -> bool {
        let agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        agents.contains_key(&(account_id.to_owned(), agent_id.to_owned()))
    }

    /// Delivers to every stream of the agent on this replica; drops closed or full ones.
    pub fn to_agent(&self, account_id: &str, agent_id: &str, event: AgentEvent) {
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        let key = (account_id.to_owned(), agent_id.to_owned());
        if let Some(senders) = agents.get_mut(&key) {
            senders.retain(|tx| tx.try_send(event.clone()).is_ok());
            if senders.is_empty() {
                agents.remove(&key);
            }
        }
    }

    pub fn partner_notify(&self, account_id: &str) -> Arc<Notify> {
        let mut partners = self.partners.lock().unwrap_or_else(|p| p.into_inner());
        partners.entry(account_id.to_owned()).or_default().clone()
    }

    /// Wakes the account's partner streams so they read their outbox.
    pub fn wake_partners(&self, account_id: &str) {
        let partners = self.partners.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = partners.get(account_id) {
            n.notify_waiters();
        }
    }
}
