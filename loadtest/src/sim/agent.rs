//! One agent or bot: logs in ONLINE at its time, answers offers (`sim/offer.rs`), takes
//! assignments, replies after thinking, and closes when the script says the agent does.
//!
//! When its stream ends, the agent subscribes again with backoff (logging in again if the
//! service says it is not logged in). The new stream starts with a snapshot of the agent's
//! assignments; the ones it already holds are not new.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchyard_proto::agent::v1::{self as agentpb, agent_event};
use switchyard_proto::common::v1::Party;
use tonic::{Code, Status, Streaming};

use super::{known_conversation, offer, parse_text, text, transfer, Ctx};
use crate::observe::{Anomaly, Obs};
use crate::retry::{self, Idempotence, Reconnect};
use crate::scenario::Closer;

const METHOD: &str = "Subscribe";
/// Transcript page size when an assignment's history was cut.
const TRANSCRIPT_PAGE: u32 = 500;

/// The conversations one agent holds (id -> schedule index), across its streams.
#[derive(Debug, Default)]
pub struct Held {
    conversations: HashMap<String, usize>,
}

impl Held {
    /// An assignment arrived: true if it is new to this agent (not a snapshot's repeat).
    pub fn assigned(&mut self, conversation_id: &str, idx: usize) -> bool {
        self.conversations.insert(conversation_id.to_owned(), idx).is_none()
    }

    /// The conversation was taken away (assigning it again later is new); its index if held.
    pub fn unassigned(&mut self, conversation_id: &str) -> Option<usize> {
        self.conversations.remove(conversation_id)
    }
}

pub(super) async fn agent(
    ctx: Arc<Ctx>,
    me: usize,
    online_at: Duration,
    ready: tokio::sync::oneshot::Sender<anyhow::Result<()>>,
) {
    if !online_at.is_zero() {
        tokio::time::sleep_until(ctx.start + online_at).await;
        // Logins before the start precede the harness's clock: only later ones are timed.
        ctx.recorder.record(Obs::LoginIssued { agent: me as u32, at_us: ctx.now_us() });
    }
    let mut ready = Some(ready);
    let mut held = Held::default();
    let mut reconnect = Reconnect::new();
    let mut logged_in = false;
    // Offers answered (or ignored), across streams.
    let mut offers = HashSet::new();
    loop {
        match connect(&ctx, me, &mut logged_in).await {
            Ok(stream) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                    tokio::spawn(transfer::states(ctx.clone(), me));
                }
                reconnect.opened();
                let end = read(&ctx, me, stream, logged_in, &mut held, &mut offers, &mut reconnect).await;
                ctx.stream_ended(METHOD, end.as_ref());
            }
            Err((method, status)) => {
                if let Some(ready) = ready.take() {
                    let info = &ctx.agents[me];
                    let account = &ctx.accounts[info.account as usize];
                    let err = anyhow::anyhow!("{method}: {} {}", status.code(), status.message());
                    let _ = ready.send(Err(err).with_context(|| format!("logging in agent {} of {account}", info.id)));
                    return;
                }
                // The stream is what gets reopened; a refusal counts against the call refused.
                if !retry::is_disconnect(&status) {
                    ctx.recorder.failed(method, &status);
                }
                ctx.recorder.reconnected(METHOD, retry::failure_name(&status));
            }
        }
        reconnect.wait().await;
    }
}

/// Logs in if it has not yet (or the service says it is not), then subscribes; a failure
/// names the call that failed.
async fn connect(
    ctx: &Ctx,
    me: usize,
    logged_in: &mut bool,
) -> Result<Streaming<agentpb::AgentEvent>, (&'static str, Status)> {
    let info = &ctx.agents[me];
    let account = ctx.accounts[info.account as usize].clone();
    let state = transfer::login_state(ctx, me);
    let login =
        agentpb::LoginRequest { account_id: account.clone(), agent_id: info.id.clone(), initial_state: state as i32 };
    let subscribe = agentpb::SubscribeRequest { account_id: account, agent_id: info.id.clone() };
    for _ in 0..2 {
        if !*logged_in {
            offer::logging_in(ctx, me);
            transfer::changing(ctx, me);
            let answer = ctx
                .call("Login", Idempotence::Idempotent, || {
                    let (mut client, login) = (ctx.agent_client(me), login.clone());
                    async move { client.login(login).await }
                })
                .await;
            if let Err(status) = answer {
                return Err(("Login", status));
            }
            transfer::changed(ctx, me, state);
            *logged_in = true;
        }
        let answer = ctx
            .call(METHOD, Idempotence::Idempotent, || {
                let (mut client, subscribe) = (ctx.agent_client(me), subscribe.clone());
                async move { client.subscribe(subscribe).await }
            })
            .await;
        match answer {
            Ok(stream) => return Ok(stream),
            // Not logged in (any more): log in again, then subscribe once more.
            Err(status) if status.code() == Code::FailedPrecondition && *logged_in => *logged_in = false,
            Err(status) => return Err((METHOD, status)),
        }
    }
    Err((METHOD, Status::failed_precondition("still not logged in after logging in again")))
}

/// Reads one stream until it ends; returns how (None: it ended without a status).
async fn read(
    ctx: &Arc<Ctx>,
    me: usize,
    mut stream: Streaming<agentpb::AgentEvent>,
    logged_in: bool,
    held: &mut Held,
    offers: &mut HashSet<String>,
    reconnect: &mut Reconnect,
) -> Option<Status> {
    let info = &ctx.agents[me];
    loop {
        let event = match stream.message().await {
            Ok(Some(event)) => event,
            Ok(None) => return None,
            Err(status) => return Some(status),
        };
        reconnect.delivered();
        match event.event {
            Some(agent_event::Event::Assigned(a)) => {
                let Some(idx) = known_conversation(ctx, &a.consumer_id, info.account, &a.conversation_id) else {
                    continue;
                };
                // History may carry messages that arrived while the stream was down.
                for m in a.history.iter().filter(|m| m.from == Party::Consumer as i32) {
                    consumer_delivered(ctx, me, &m.text);
                }
                if !held.assigned(&a.conversation_id, idx) {
                    ctx.recorder.record(Obs::RepeatedAssignment);
                    continue;
                }
                let intended = ctx.plan[idx].at_us;
                let at_us = ctx.now_us();
                ctx.recorder.record(Obs::Assigned {
                    idx,
                    agent: me as u32,
                    conversation_id: a.conversation_id.clone(),
                    at_us,
                    latency_us: at_us.saturating_sub(intended),
                });
                if a.transcript_length > a.history.len() as u64 {
                    tokio::spawn(read_transcript(ctx.clone(), me, a.conversation_id.clone()));
                }
                tokio::spawn(work(ctx.clone(), me, idx, a.conversation_id, at_us));
            }
            Some(agent_event::Event::Message(m)) if m.from == Party::Consumer as i32 => {
                consumer_delivered(ctx, me, &m.text)
            }
            // Logged in ONLINE as far as the harness knows: a stream opens only after a login.
            Some(agent_event::Event::Offer(o)) => offer::offered(ctx, me, o, logged_in, offers),
            Some(agent_event::Event::OfferEnded(e)) => offer::ended(ctx, &e),
            Some(agent_event::Event::Unassigned(u)) => {
                if let Some(idx) = held.unassigned(&u.conversation_id) {
                    ctx.recorder.record(Obs::Unassigned { idx, agent: me as u32 });
                }
            }
            _ => {}
        }
    }
}

fn consumer_delivered(ctx: &Ctx, agent: usize, text: &str) {
    match parse_text(text) {
        Some((idx, n, intended)) => {
            ctx.recorder.record(Obs::ConsumerDelivered { idx, n, agent: agent as u32, latency_us: ctx.since(intended) })
        }
        None => ctx.recorder.record(Obs::Anomaly { check: Anomaly::Unknown, id: format!("message {text:?}") }),
    }
}

/// The assignment's history was cut: read the whole transcript for the consumer messages.
async fn read_transcript(ctx: Arc<Ctx>, me: usize, conversation_id: String) {
    let info = &ctx.agents[me];
    let mut after = 0;
    loop {
        let request = agentpb::GetTranscriptRequest {
            account_id: ctx.accounts[info.account as usize].clone(),
            agent_id: info.id.clone(),
            conversation_id: conversation_id.clone(),
            after_sequence: after,
            page_size: TRANSCRIPT_PAGE,
        };
        let page = ctx
            .call("GetTranscript", Idempotence::Idempotent, || {
                let (mut client, request) = (ctx.agent_client(me), request.clone());
                async move { client.get_transcript(request).await }
            })
            .await;
        let page = match page {
            Ok(page) => page,
            Err(status) => {
                ctx.recorder.failed("GetTranscript", &status);
                return;
            }
        };
        for m in page.messages.iter().filter(|m| m.from == Party::Consumer as i32) {
            consumer_delivered(&ctx, me, &m.text);
        }
        if page.next_after_sequence == 0 || page.next_after_sequence <= after {
            return;
        }
        after = page.next_after_sequence;
    }
}

/// The agent's side of one conversation: think, reply, maybe transfer it after the first
/// reply (then the next holder sends the rest), and maybe close.
async fn work(ctx: Arc<Ctx>, me: usize, idx: usize, conversation_id: String, assigned_us: u64) {
    let script = &ctx.scenario.script;
    let info = &ctx.agents[me];
    let account = ctx.accounts[info.account as usize].clone();
    let mut intended = assigned_us + ctx.scenario.agent_think(me).as_micros() as u64;
    let first = transfer::first_reply(&ctx, me, idx);
    for n in first..script.agent_replies {
        if n > first {
            intended += script.reply_gap.as_micros() as u64;
        }
        tokio::time::sleep_until(ctx.at(intended)).await;
        let request = agentpb::SendMessageRequest {
            account_id: account.clone(),
            agent_id: info.id.clone(),
            conversation_id: conversation_id.clone(),
            text: text(idx, n, intended),
        };
        // Not idempotent: a retry after a broken connection may store the reply twice (the
        // partner then counts a duplicate reply).
        ctx.recorder.record(Obs::ReplyIssued { idx, agent: me as u32, at_us: ctx.now_us() });
        let sent = ctx
            .call("SendMessage", Idempotence::NotIdempotent, || {
                let (mut client, request) = (ctx.agent_client(idx), request.clone());
                async move { client.send_message(request).await }
            })
            .await;
        match sent {
            Ok(_) => ctx.recorder.record(Obs::ReplySent { idx, n }),
            Err(status) => ctx.recorder.failed("SendMessage", &status),
        }
        if n == 0 && transfer::after_first_reply(&ctx, me, idx, &conversation_id).await {
            return;
        }
    }
    if script.close_by != Closer::Agent {
        return;
    }
    tokio::time::sleep_until(ctx.at(intended + script.hold.as_micros() as u64)).await;
    ctx.recorder.record(Obs::CloseIssued { idx, at_us: ctx.now_us() });
    let request = agentpb::CloseConversationRequest { account_id: account, agent_id: info.id.clone(), conversation_id };
    let closed = ctx
        .call("AgentCloseConversation", Idempotence::Idempotent, || {
            let (mut client, request) = (ctx.agent_client(idx), request.clone());
            async move { client.close_conversation(request).await }
        })
        .await;
    if let Err(status) = closed {
        ctx.recorder.failed("AgentCloseConversation", &status);
        ctx.recorder.record(Obs::CloseFailed { idx });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_repeats_what_the_agent_holds_and_a_requeue_forgets_it() {
        let mut held = Held::default();
        assert!(held.assigned("conv-1", 1));
        assert!(held.assigned("conv-2", 2));
        // Re-subscribed: the snapshot carries both again.
        assert!(!held.assigned("conv-1", 1));
        assert!(!held.assigned("conv-2", 2));
        // conv-1 was requeued and later came back to this agent: that is a new assignment.
        assert_eq!(held.unassigned("conv-1"), Some(1));
        assert_eq!(held.unassigned("conv-9"), None);
        assert!(held.assigned("conv-1", 1));
    }
}
