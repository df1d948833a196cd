//! One account's connector partner on one channel: reads that channel's outbound stream, times agent replies, records
//! system messages (automatic messages), closes conversations when the script says the consumer does, and
//! acknowledges what it read.
//!
//! When the stream ends (any status, or a broken connection) the partner reopens it with
//! backoff and without `from_sequence`, so the service resumes after the last acknowledged
//! sequence: events after that ack come again, and are recognised by their sequence.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use switchyard_proto::common::v1::Party;
use switchyard_proto::connectors::v1::{self as conn, outbound_event};
use tonic::Streaming;

use super::consumer::consumer_close;
use super::{known_conversation, parse_text, Ctx};
use crate::observe::{Anomaly, Obs, SystemSeen};
use crate::retry::{self, Idempotence, Reconnect};
use crate::scenario::Closer;

/// The partner acknowledges its outbound stream after this many events (or each second).
const ACK_EVERY: u64 = 256;
const METHOD: &str = "StreamOutbound";

/// Where a partner is in its outbound stream, across reconnects.
#[derive(Debug, Default)]
pub struct Cursor {
    /// Highest sequence seen on any stream.
    max_seen: u64,
    /// Highest sequence seen on the current stream.
    this_stream: u64,
}

/// What a sequence number means to the partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not delivered before: handle it.
    New,
    /// Delivered on an earlier stream and again after a reconnect: count it, do not handle it.
    Redelivered,
    /// Not above the previous sequence of the same stream: an ordering failure.
    OutOfOrder { after: u64 },
}

impl Cursor {
    /// A new stream starts: it may repeat what came after the last ack.
    pub fn reopened(&mut self) {
        self.this_stream = 0;
    }

    pub fn see(&mut self, sequence: u64) -> Seen {
        let seen = if sequence <= self.this_stream {
            Seen::OutOfOrder { after: self.this_stream }
        } else if sequence <= self.max_seen {
            Seen::Redelivered
        } else {
            Seen::New
        };
        self.this_stream = self.this_stream.max(sequence);
        self.max_seen = self.max_seen.max(sequence);
        seen
    }

    /// The highest sequence handled: what the partner may acknowledge.
    pub fn last(&self) -> u64 {
        self.max_seen
    }
}

/// Conversations whose close event the partner stream delivered: anything of the agent's
/// for them afterwards is a failure.
#[derive(Debug, Default)]
pub struct Closed {
    conversations: HashSet<String>,
}

impl Closed {
    /// What the stream delivered for `conversation_id`, in stream order; for an agent message
    /// or "agent joined" after the close, what to report.
    pub fn see(&mut self, conversation_id: &str, event: &outbound_event::Event) -> Option<&'static str> {
        let closed = self.conversations.contains(conversation_id);
        match event {
            outbound_event::Event::Closed(_) => {
                self.conversations.insert(conversation_id.to_owned());
                None
            }
            outbound_event::Event::Message(m) if closed && m.from == Party::Agent as i32 => Some("agent message"),
            outbound_event::Event::AgentJoined(_) if closed => Some("\"agent joined\""),
            _ => None,
        }
    }
}

fn request(ctx: &Ctx, account: usize, channel: i32) -> conn::StreamOutboundRequest {
    conn::StreamOutboundRequest {
        account_id: ctx.accounts[account].clone(),
        channel,
        // Absent: resume after the last acknowledged sequence.
        from_sequence: None,
    }
}

/// Opens the stream before the run starts (retried like a unary call); an error ends the run.
pub(super) async fn open_first(
    ctx: &Ctx,
    account: usize,
    channel: i32,
) -> anyhow::Result<Streaming<conn::OutboundEvent>> {
    let request = request(ctx, account, channel);
    ctx.call(METHOD, Idempotence::Idempotent, || {
        let (mut client, request) = (ctx.connector(account, account), request.clone());
        async move { client.stream_outbound(request).await }
    })
    .await
    .map_err(|status| {
        anyhow::anyhow!(
            "opening the outbound stream of {} (channel {channel}): {} {}",
            ctx.accounts[account],
            status.code(),
            status.message()
        )
    })
}

/// What the partner keeps across streams.
struct Partner {
    ctx: Arc<Ctx>,
    account: usize,
    /// The proto `Channel` value of the stream.
    channel: i32,
    cursor: Cursor,
    acked: u64,
    closed: Closed,
    /// Conversations the partner closes on the consumer's behalf, once each (a reply stored
    /// twice must not close twice).
    closing: HashSet<usize>,
}

pub(super) async fn partner(ctx: Arc<Ctx>, account: usize, channel: i32, first: Streaming<conn::OutboundEvent>) {
    let mut partner = Partner {
        ctx: ctx.clone(),
        account,
        channel,
        cursor: Cursor::default(),
        acked: 0,
        closed: Closed::default(),
        closing: HashSet::new(),
    };
    let mut reconnect = Reconnect::new();
    let mut stream = Some(first);
    loop {
        if let Some(s) = stream.take() {
            reconnect.opened();
            partner.cursor.reopened();
            let end = partner.read(s, &mut reconnect).await;
            ctx.stream_ended(METHOD, end.as_ref());
        }
        reconnect.wait().await;
        let request = request(&ctx, account, channel);
        let open = async { ctx.connector(account, account).stream_outbound(request).await };
        match tokio::time::timeout(retry::ATTEMPT_TIMEOUT, open).await {
            Ok(Ok(s)) => stream = Some(s.into_inner()),
            Ok(Err(status)) => ctx.stream_ended(METHOD, Some(&status)),
            Err(_) => ctx.stream_ended(METHOD, Some(&tonic::Status::deadline_exceeded("opening the stream timed out"))),
        }
    }
}

impl Partner {
    /// Reads one stream until it ends; returns how (None: it ended without a status).
    async fn read(
        &mut self,
        mut stream: Streaming<conn::OutboundEvent>,
        reconnect: &mut Reconnect,
    ) -> Option<tonic::Status> {
        let mut ack_tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let event = tokio::select! {
                event = stream.message() => event,
                _ = ack_tick.tick() => {
                    self.ack();
                    continue;
                }
            };
            match event {
                Ok(Some(event)) => {
                    reconnect.delivered();
                    self.handle(event);
                }
                Ok(None) => return None,
                Err(status) => return Some(status),
            }
        }
    }

    /// Acknowledges everything handled so far, if that is more than last time.
    fn ack(&mut self) {
        let last = self.cursor.last();
        if last > self.acked {
            self.acked = last;
            tokio::spawn(ack(self.ctx.clone(), self.account, self.channel, last));
        }
    }

    fn handle(&mut self, event: conn::OutboundEvent) {
        let ctx = self.ctx.clone();
        let ctx = &*ctx;
        match self.cursor.see(event.sequence) {
            Seen::New => {}
            Seen::Redelivered => {
                ctx.recorder.record(Obs::Redelivered);
                return;
            }
            Seen::OutOfOrder { after } => {
                ctx.recorder.record(Obs::Anomaly {
                    check: Anomaly::OutOfOrder,
                    id: format!(
                        "{} channel {} sequence {} after {after}",
                        ctx.accounts[self.account], self.channel, event.sequence
                    ),
                });
                return;
            }
        }
        if self.cursor.last() - self.acked >= ACK_EVERY {
            self.ack();
        }
        let Some(idx) = known_conversation(ctx, &event.consumer_id, self.account as u32, &event.conversation_id) else {
            return;
        };
        let late = event.event.as_ref().and_then(|e| self.closed.see(&event.conversation_id, e));
        if let Some(what) = late {
            ctx.recorder.record(Obs::Anomaly {
                check: Anomaly::AfterClose,
                id: format!("{}: {what} after its close (sequence {})", event.conversation_id, event.sequence),
            });
        }
        match &event.event {
            Some(outbound_event::Event::Message(m)) if m.from == Party::Agent as i32 => {
                let Some((_, n, intended)) = parse_text(&m.text) else {
                    ctx.recorder.record(Obs::Anomaly { check: Anomaly::Unknown, id: format!("message {:?}", m.text) });
                    return;
                };
                ctx.recorder.record(Obs::ReplyDelivered { idx, n, latency_us: ctx.since(intended) });
                let last = n + 1 == ctx.scenario.script.agent_replies;
                if ctx.scenario.script.close_by == Closer::Consumer && last && self.closing.insert(idx) {
                    tokio::spawn(consumer_close(self.ctx.clone(), idx, event.conversation_id.clone()));
                }
            }
            Some(outbound_event::Event::Message(m)) if m.from == Party::System as i32 => {
                let seen = SystemSeen {
                    conversation_id: event.conversation_id.clone(),
                    text: m.text.clone(),
                    sequence: m.sequence,
                    sent_at_ms: m.sent_at_ms,
                    seen_us: ctx.now_us(),
                };
                ctx.recorder.record(Obs::SystemMessage { idx, seen });
            }
            Some(outbound_event::Event::Closed(c)) => ctx.recorder.record(Obs::ClosedSeen { idx, auto: c.auto_closed }),
            _ => {}
        }
    }
}

async fn ack(ctx: Arc<Ctx>, account: usize, channel: i32, sequence: u64) {
    let request = conn::AckOutboundRequest { account_id: ctx.accounts[account].clone(), channel, sequence };
    let acked = ctx
        .call("AckOutbound", Idempotence::Idempotent, || {
            let (mut client, request) = (ctx.connector(account, account), request.clone());
            async move { client.ack_outbound(request).await }
        })
        .await;
    if let Err(status) = acked {
        ctx.recorder.failed("AckOutbound", &status);
    }
}

#[cfg(test)]
mod tests {
    use switchyard_proto::common::v1::Message;

    use super::*;

    #[test]
    fn an_agent_message_or_join_after_the_close_is_named() {
        let message = |from: Party| {
            outbound_event::Event::Message(Message { from: from as i32, text: "hi".into(), ..Message::default() })
        };
        let joined = outbound_event::Event::AgentJoined(conn::AgentJoined { agent_id: "a-1".into() });
        let closed = outbound_event::Event::Closed(conn::ConversationClosedEvent::default());
        let mut c = Closed::default();
        assert_eq!(c.see("x", &joined), None);
        assert_eq!(c.see("x", &message(Party::Agent)), None);
        assert_eq!(c.see("x", &closed), None);
        assert_eq!(c.see("x", &message(Party::Agent)), Some("agent message"));
        assert_eq!(c.see("x", &joined), Some("\"agent joined\""));
        // A system or consumer message after the close, or another conversation, is fine.
        assert_eq!(c.see("x", &message(Party::System)), None);
        assert_eq!(c.see("y", &message(Party::Agent)), None);
    }

    #[test]
    fn events_after_the_last_ack_that_come_again_are_redeliveries_not_disorder() {
        let mut c = Cursor::default();
        let seen: Vec<Seen> = [1, 2, 3, 4].iter().map(|s| c.see(*s)).collect();
        assert!(seen.iter().all(|s| *s == Seen::New), "{seen:?}");
        // Acked up to 2; the stream breaks and the service resumes after 2.
        c.reopened();
        assert_eq!(c.see(3), Seen::Redelivered);
        assert_eq!(c.see(4), Seen::Redelivered);
        assert_eq!(c.see(5), Seen::New);
        assert_eq!(c.last(), 5);
        // Within one stream, a sequence that does not increase is a failure.
        assert_eq!(c.see(5), Seen::OutOfOrder { after: 5 });
        assert_eq!(c.see(4), Seen::OutOfOrder { after: 5 });
        assert_eq!(c.see(6), Seen::New);
    }
}
