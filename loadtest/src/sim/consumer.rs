//! One consumer, through its connector partner: the open (or racing opens), further messages,
//! and no more: the agent or the partner side closes.

use std::sync::Arc;

use switchyard_proto::connectors::v1 as conn;
use tonic::Code;

use super::{consumer_id, text, Ctx};
use crate::observe::Obs;
use crate::retry::Idempotence;
use crate::schedule::OpenKind;

pub(super) async fn conversation(ctx: Arc<Ctx>, idx: usize) {
    let p = ctx.plan[idx];
    let script = &ctx.scenario.script;
    let account = &ctx.accounts[p.account as usize];
    let opens = match p.kind {
        OpenKind::Single => 1,
        OpenKind::Duplicate => 2,
        OpenKind::Chatty => script.chatty_messages,
    };
    let requests = (0..opens).map(|k| {
        // A duplicate repeats the same partner message id and text; chatty opens are each
        // their own message.
        let n = if p.kind == OpenKind::Duplicate { 0 } else { k };
        conn::OpenConversationRequest {
            account_id: account.clone(),
            channel: ctx.channels[p.channel as usize],
            consumer_id: consumer_id(idx),
            skill_id: ctx.skills[p.skill as usize].clone(),
            partner_message_id: format!("p{idx}-{n}"),
            first_message: if script.first_message || p.kind == OpenKind::Chatty {
                text(idx, n, p.at_us)
            } else {
                String::new()
            },
            ..Default::default()
        }
    });
    ctx.recorder.record(Obs::OpenSent { intended_us: p.at_us, at_us: ctx.now_us() });
    // Each open carries a partner message id, so a retry returns the same conversation.
    let answers = futures::future::join_all(requests.map(|r| {
        let ctx = &ctx;
        ctx.call("OpenConversation", Idempotence::Idempotent, move || {
            let (mut client, r) = (ctx.connector(idx, ctx.plan[idx].account as usize), r.clone());
            async move { client.open_conversation(r).await }
        })
    }))
    .await;
    let mut opened = None;
    for (k, answer) in answers.into_iter().enumerate() {
        match answer {
            Ok(r) => {
                let latency_us = ctx.since(p.at_us);
                let has_text = script.first_message || p.kind == OpenKind::Chatty;
                if has_text {
                    let n = if p.kind == OpenKind::Duplicate { 0 } else { k as u32 };
                    ctx.recorder.record(Obs::ConsumerSent { idx, n });
                }
                opened.get_or_insert(r.conversation_id.clone());
                ctx.recorder.record(Obs::Opened {
                    idx,
                    conversation_id: r.conversation_id,
                    created: r.created,
                    intended_us: p.at_us,
                    latency_us,
                });
            }
            Err(status) => ctx.recorder.failed("OpenConversation", &status),
        }
    }
    let Some(conversation_id) = opened else {
        ctx.recorder.record(Obs::OpenFailed { idx });
        return;
    };
    if super::urgent::marks(&ctx.scenario, &ctx.plan, &ctx.channels, idx) {
        let (ctx, conversation_id) = (ctx.clone(), conversation_id.clone());
        tokio::spawn(async move { super::urgent::mark(&ctx, idx, conversation_id).await });
    }
    let first = match p.kind {
        OpenKind::Chatty => script.chatty_messages,
        _ => u32::from(script.first_message),
    };
    let opened_at = ctx.now_us();
    for i in 0..script.consumer_messages {
        let intended = opened_at + script.consumer_gap.as_micros() as u64 * u64::from(i + 1);
        tokio::time::sleep_until(ctx.at(intended)).await;
        let n = first + i;
        let request = conn::PublishMessageRequest {
            account_id: account.clone(),
            conversation_id: conversation_id.clone(),
            text: text(idx, n, intended),
            partner_message_id: format!("p{idx}-{n}"),
        };
        let sent = ctx
            .call("PublishMessage", Idempotence::Idempotent, || {
                let (mut client, request) = (ctx.connector(idx, ctx.plan[idx].account as usize), request.clone());
                async move { client.publish_message(request).await }
            })
            .await;
        match sent {
            Ok(_) => ctx.recorder.record(Obs::ConsumerSent { idx, n }),
            // A conversation the agent already closed refuses messages: expected, not counted.
            Err(status) if status.code() == Code::FailedPrecondition => break,
            Err(status) => ctx.recorder.failed("PublishMessage", &status),
        }
    }
}

/// The partner closes on the consumer's behalf, `hold` after the last reply arrived.
pub(super) async fn consumer_close(ctx: Arc<Ctx>, idx: usize, conversation_id: String) {
    let hold = ctx.scenario.script.hold;
    let intended = ctx.now_us() + hold.as_micros() as u64;
    tokio::time::sleep_until(ctx.at(intended)).await;
    ctx.recorder.record(Obs::CloseIssued { idx, at_us: ctx.now_us() });
    let account = ctx.accounts[ctx.plan[idx].account as usize].clone();
    let request = conn::CloseConversationRequest { account_id: account, conversation_id };
    let closed = ctx
        .call("CloseConversation", Idempotence::Idempotent, || {
            let (mut client, request) = (ctx.connector(idx, ctx.plan[idx].account as usize), request.clone());
            async move { client.close_conversation(request).await }
        })
        .await;
    if let Err(status) = closed {
        ctx.recorder.failed("CloseConversation", &status);
        ctx.recorder.record(Obs::CloseFailed { idx });
    }
}
