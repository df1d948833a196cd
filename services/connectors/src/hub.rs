//! Streams connected to this replica: agent event streams by (account, agent), and wake-ups
//! for partner outbound streams by account. Fed by the per-replica fan-out reader.
//!
//! Bounded: at most `max_streams` streams at once, `limits.streams_per_agent` per agent and
//! `limits.streams_per_partner_channel` per partner channel (more are refused), and an entry lives only
//! while a stream holds it: each stream holds a [`StreamPermit`] whose drop removes what the
//! stream registered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::ConnectorError;
use switchyard_kit::ServiceError;
use switchyard_proto::agent::v1::AgentEvent;
use tokio::sync::{mpsc, Notify};

/// Events buffered per agent stream before the stream is ended as too slow (the agent
/// reconnects and gets its assignments again from the snapshot).
pub const AGENT_STREAM_BUFFER: usize = 1024;

/// What an agent stream receives from the hub.
#[derive(Debug, Clone)]
pub enum HubEvent {
    Event(AgentEvent),
    /// End the stream with this status (logout).
    End(tonic::Status),
}

struct AgentStream {
    id: u64,
    tx: mpsc::Sender<HubEvent>,
}

#[derive(Default)]
struct Partners {
    notify: Arc<Notify>,
    streams: usize,
    /// channel -> streams of that channel
    per_channel: HashMap<i32, u32>,
}

#[derive(Default)]
struct State {
    agents: HashMap<(String, String), Vec<AgentStream>>,
    partners: HashMap<String, Partners>,
    streams: usize,
    next_id: u64,
}

pub struct Hub {
    state: Mutex<State>,
    limits: StreamLimits,
}

/// How many streams this replica serves: in all, per agent, per partner channel of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub total: usize,
    pub per_agent: u32,
    pub per_partner_channel: u32,
}

impl StreamLimits {
    /// `total` streams, without per-agent or per-channel limits (0 turns those off).
    pub fn total(total: usize) -> Self {
        Self { total, per_agent: 0, per_partner_channel: 0 }
    }
}

/// Held by a stream for its lifetime; unregisters it when dropped.
pub struct StreamPermit {
    hub: Arc<Hub>,
    kind: Registration,
}

enum Registration {
    Agent { account: String, agent: String, id: u64 },
    Partner { account: String, channel: i32 },
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut s = self.hub.lock();
        s.streams = s.streams.saturating_sub(1);
        match &self.kind {
            Registration::Agent { account, agent, id } => {
                let key = (account.clone(), agent.clone());
                if let Some(streams) = s.agents.get_mut(&key) {
                    streams.retain(|stream| stream.id != *id);
                    if streams.is_empty() {
                        s.agents.remove(&key);
                    }
                }
            }
            Registration::Partner { account, channel } => {
                if let Some(partners) = s.partners.get_mut(account) {
                    partners.streams = partners.streams.saturating_sub(1);
                    if let Some(n) = partners.per_channel.get_mut(channel) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            partners.per_channel.remove(channel);
                        }
                    }
                    if partners.streams == 0 {
                        s.partners.remove(account);
                    }
                }
            }
        }
        metrics::gauge!(crate::STREAMS, "service" => "connectors").set(s.streams as f64);
    }
}

impl Hub {
    pub fn new(limits: StreamLimits) -> Arc<Self> {
        Arc::new(Self { state: Mutex::new(State::default()), limits })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn admit(&self, s: &mut State) -> Result<(), ServiceError> {
        if s.streams >= self.limits.total {
            return Err(ConnectorError::TooManyStreams(self.limits.total).into());
        }
        s.streams += 1;
        metrics::gauge!(crate::STREAMS, "service" => "connectors").set(s.streams as f64);
        Ok(())
    }

    pub fn register_agent(
        self: &Arc<Self>,
        account_id: &str,
        agent_id: &str,
    ) -> Result<(mpsc::Receiver<HubEvent>, StreamPermit), ServiceError> {
        let (tx, rx) = mpsc::channel(AGENT_STREAM_BUFFER);
        let mut s = self.lock();
        let per_agent = self.limits.per_agent;
        let held = s.agents.get(&(account_id.to_owned(), agent_id.to_owned())).map_or(0, Vec::len);
        if per_agent > 0 && held >= per_agent as usize {
            return Err(ConnectorError::TooManyAgentStreams { agent: agent_id.to_owned(), limit: per_agent }.into());
        }
        self.admit(&mut s)?;
        s.next_id += 1;
        let id = s.next_id;
        s.agents.entry((account_id.to_owned(), agent_id.to_owned())).or_default().push(AgentStream { id, tx });
        let kind = Registration::Agent { account: account_id.to_owned(), agent: agent_id.to_owned(), id };
        Ok((rx, StreamPermit { hub: self.clone(), kind }))
    }

    pub fn has_agent(&self, account_id: &str, agent_id: &str) -> bool {
        self.lock().agents.contains_key(&(account_id.to_owned(), agent_id.to_owned()))
    }

    /// Delivers to every stream of the agent on this replica. A stream whose buffer is full
    /// loses its sender: it drains what it has, then ends as fallen behind.
    pub fn to_agent(&self, account_id: &str, agent_id: &str, event: AgentEvent) {
        self.send_agent(account_id, agent_id, HubEvent::Event(event));
    }

    /// Ends every agent stream on this replica with `status`.
    pub fn end_all_agents(&self, status: tonic::Status) {
        let mut s = self.lock();
        for streams in s.agents.values_mut() {
            streams.retain(|stream| stream.tx.try_send(HubEvent::End(status.clone())).is_ok());
        }
        s.agents.retain(|_, streams| !streams.is_empty());
    }

    /// Ends every stream of the agent on this replica with `status`.
    pub fn end_agent(&self, account_id: &str, agent_id: &str, status: tonic::Status) {
        self.send_agent(account_id, agent_id, HubEvent::End(status));
    }

    fn send_agent(&self, account_id: &str, agent_id: &str, event: HubEvent) {
        let mut s = self.lock();
        let key = (account_id.to_owned(), agent_id.to_owned());
        let Some(streams) = s.agents.get_mut(&key) else { return };
        streams.retain(|stream| stream.tx.try_send(event.clone()).is_ok());
        if streams.is_empty() {
            s.agents.remove(&key);
        }
    }

    /// A partner stream of `account_id`: the wake-up it waits on and its permit.
    pub fn register_partner(
        self: &Arc<Self>,
        account_id: &str,
        channel: i32,
    ) -> Result<(Arc<Notify>, StreamPermit), ServiceError> {
        let mut s = self.lock();
        let per_channel = self.limits.per_partner_channel;
        let held = s.partners.get(account_id).and_then(|p| p.per_channel.get(&channel)).copied().unwrap_or(0);
        if per_channel > 0 && held >= per_channel {
            return Err(ConnectorError::TooManyPartnerStreams { limit: per_channel }.into());
        }
        self.admit(&mut s)?;
        let partners = s.partners.entry(account_id.to_owned()).or_default();
        partners.streams += 1;
        *partners.per_channel.entry(channel).or_default() += 1;
        let notify = partners.notify.clone();
        let kind = Registration::Partner { account: account_id.to_owned(), channel };
        Ok((notify, StreamPermit { hub: self.clone(), kind }))
    }

    /// Wakes the account's partner streams so they read their outbox.
    pub fn wake_partners(&self, account_id: &str) {
        if let Some(partners) = self.lock().partners.get(account_id) {
            partners.notify.notify_waiters();
        }
    }

    /// (agent entries, partner entries, streams): what a growth test watches.
    pub fn sizes(&self) -> (usize, usize, usize) {
        let s = self.lock();
        (s.agents.len(), s.partners.len(), s.streams)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn entries_live_only_while_a_stream_holds_them_and_streams_are_bounded() {
        let hub = Hub::new(StreamLimits::total(2));
        let (_rx, agent) = hub.register_agent("acme", "alice").unwrap();
        let (_notify, partner) = hub.register_partner("acme", 1).unwrap();
        assert_eq!(hub.sizes(), (1, 1, 2));
        let refused = hub.register_agent("acme", "bob").err().unwrap();
        assert!(matches!(refused, ServiceError::RateLimited { .. }), "{refused}");
        drop(agent);
        drop(partner);
        assert_eq!(hub.sizes(), (0, 0, 0), "nothing stays behind its streams");
        assert!(hub.register_agent("acme", "bob").is_ok());
    }

    #[test]
    fn streams_are_bounded_per_agent_and_per_partner_channel_and_freed_on_drop() {
        let hub = Hub::new(StreamLimits { total: 100, per_agent: 2, per_partner_channel: 1 });
        let (_a1, p1) = hub.register_agent("acme", "alice").unwrap();
        let (_a2, _p2) = hub.register_agent("acme", "alice").unwrap();
        assert!(hub.register_agent("acme", "alice").is_err(), "a third stream of alice");
        assert!(hub.register_agent("acme", "bob").is_ok(), "bob has his own");
        assert!(hub.register_agent("globex", "alice").is_ok(), "another account's alice too");
        drop(p1);
        assert!(hub.register_agent("acme", "alice").is_ok(), "a stream ended frees its place");
        let (_n, web) = hub.register_partner("acme", 1).unwrap();
        assert!(hub.register_partner("acme", 1).is_err(), "a second web stream of acme");
        assert!(hub.register_partner("acme", 2).is_ok(), "another channel");
        assert!(hub.register_partner("globex", 1).is_ok(), "another account");
        drop(web);
        assert!(hub.register_partner("acme", 1).is_ok());
    }

    #[test]
    fn a_logout_ends_every_stream_of_the_agent() {
        let hub = Hub::new(StreamLimits::total(10));
        let (mut a, _pa) = hub.register_agent("acme", "alice").unwrap();
        let (mut b, _pb) = hub.register_agent("acme", "alice").unwrap();
        let (mut other, _po) = hub.register_agent("acme", "bob").unwrap();
        hub.end_agent("acme", "alice", tonic::Status::failed_precondition("agent alice logged out"));
        for rx in [&mut a, &mut b] {
            assert!(matches!(rx.try_recv().unwrap(), HubEvent::End(s) if s.code() == tonic::Code::FailedPrecondition));
        }
        assert!(other.try_recv().is_err());
    }
}
