//! Kafka event envelopes: one `switchyard.events.v1.Envelope` per record, with the event id
//! consumers dedupe on, and the W3C trace context in the record headers.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector};
use prost::Message;
use switchyard_platform::bus::{BusError, Delivery, EventBus, Record};

use crate::{validate, ServiceError};
use switchyard_proto::events::v1::{envelope::Body, Envelope};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A new envelope with a fresh time-ordered event id.
pub fn new(account_id: &str, occurred_at_ms: i64, body: Body) -> Envelope {
    with_id(uuid::Uuid::now_v7().to_string(), account_id, occurred_at_ms, body)
}

/// An envelope whose id is derived from what it describes, so that a retried producer
/// emits the same id and consumers see a duplicate rather than a second event.
pub fn with_id(event_id: String, account_id: &str, occurred_at_ms: i64, body: Body) -> Envelope {
    Envelope {
        event_id,
        account_id: account_id.to_owned(),
        occurred_at_ms,
        schema_version: switchyard_proto::EVENT_SCHEMA_VERSION,
        body: Some(body),
    }
}

struct HeaderMap<'a>(&'a mut HashMap<String, String>);

impl Injector for HeaderMap<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct DeliveryHeaders<'a>(&'a Delivery);

impl Extractor for DeliveryHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.header(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.headers.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// Publishes `envelope` with the current span's trace context; resolves when durable.
pub async fn publish(bus: &dyn EventBus, topic: &str, key: String, envelope: &Envelope) -> Result<(), BusError> {
    let mut record = Record::new(topic, key, envelope.encode_to_vec());
    let mut headers = HashMap::new();
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut HeaderMap(&mut headers)));
    for (name, value) in headers {
        record = record.with_header(name, value.into_bytes());
    }
    bus.publish(record).await
}

/// Checks an event's fields as strictly as the gRPC edges check requests: a record with an
/// empty or malformed id is refused (and dead-lettered by the consumer), never applied.
pub fn validate(env: &Envelope) -> Result<(), ServiceError> {
    use validate::{id, optional_id, skill_id};
    id("account_id", &env.account_id)?;
    let optional_skill = |field: &str, value: &str| -> Result<(), ServiceError> {
        if !value.is_empty() {
            skill_id(field, value)?;
        }
        Ok(())
    };
    match &env.body {
        None => Ok(()),
        Some(Body::ConversationOpened(b)) => {
            id("conversation_id", &b.conversation_id)?;
            id("consumer_id", &b.consumer_id)?;
            skill_id("skill_id", &b.skill_id).map(drop)
        }
        Some(Body::MessagePublished(b)) => {
            let message = b.message.as_ref().ok_or_else(|| ServiceError::invalid("message", "is required"))?;
            id("message.conversation_id", &message.conversation_id)?;
            if message.sequence == 0 {
                return Err(ServiceError::invalid("message.sequence", "must be at least 1"));
            }
            optional_id("agent_id", &b.agent_id).map(drop)
        }
        Some(Body::ChatStateChanged(b)) => {
            id("conversation_id", &b.conversation_id)?;
            optional_id("agent_id", &b.agent_id).map(drop)
        }
        Some(Body::MessagesRead(b)) => {
            id("conversation_id", &b.conversation_id)?;
            optional_id("agent_id", &b.agent_id).map(drop)
        }
        Some(Body::ConversationClosed(b)) => {
            id("conversation_id", &b.conversation_id)?;
            optional_skill("skill_id", &b.skill_id)?;
            optional_id("agent_id", &b.agent_id).map(drop)
        }
        Some(Body::ResponseTimeChanged(b)) => {
            id("conversation_id", &b.conversation_id)?;
            skill_id("skill_id", &b.skill_id)?;
            use switchyard_routing::SlaKind;
            let kinds = [SlaKind::Urgent, SlaKind::Default, SlaKind::FirstTime].map(SlaKind::name);
            if kinds.contains(&b.sla.as_str()) || b.sla == switchyard_routing::MANUAL_SLA {
                Ok(())
            } else {
                Err(ServiceError::invalid("sla", "must be urgent, manual, default or first_time"))
            }
        }
        Some(Body::RouteConversation(b)) => {
            id("conversation_id", &b.conversation_id)?;
            skill_id("skill_id", &b.skill_id)?;
            optional_id("avoid_agent_id", &b.avoid_agent_id).map(drop)
        }
        Some(Body::DequeueConversation(b)) => {
            id("conversation_id", &b.conversation_id)?;
            skill_id("skill_id", &b.skill_id).map(drop)
        }
        Some(Body::ConversationAssigned(b)) => {
            id("conversation_id", &b.conversation_id)?;
            id("agent_id", &b.agent_id)?;
            skill_id("skill_id", &b.skill_id)?;
            if b.assignment_version == 0 {
                return Err(ServiceError::invalid("assignment_version", "must be at least 1"));
            }
            Ok(())
        }
        Some(Body::ParticipantChanged(b)) => {
            id("conversation_id", &b.conversation_id)?;
            id("agent_id", &b.agent_id)?;
            match b.role.as_str() {
                "manager" | "reader" => Ok(()),
                _ => Err(ServiceError::invalid("role", "must be manager or reader")),
            }
        }
        Some(Body::SystemMessageRequested(b)) => {
            id("conversation_id", &b.conversation_id)?;
            validate::text("text", &b.text)?;
            validate::text("dedupe_id", &b.dedupe_id).map(drop)
        }
        Some(Body::ConversationOffered(b)) => {
            id("conversation_id", &b.conversation_id)?;
            id("offer_id", &b.offer_id)?;
            skill_id("skill_id", &b.skill_id)?;
            if b.agent_ids.is_empty() {
                return Err(ServiceError::invalid("agent_ids", "must not be empty"));
            }
            for (i, agent) in b.agent_ids.iter().enumerate() {
                id(&format!("agent_ids[{i}]"), agent)?;
            }
            Ok(())
        }
        Some(Body::OfferEnded(b)) => {
            id("conversation_id", &b.conversation_id)?;
            id("offer_id", &b.offer_id)?;
            id("agent_id", &b.agent_id).map(drop)
        }
        Some(Body::ConversationUnassigned(b)) => {
            id("conversation_id", &b.conversation_id)?;
            id("agent_id", &b.agent_id)?;
            optional_skill("skill_id", &b.skill_id)
        }
        Some(Body::AgentSessionChanged(b)) => id("agent_id", &b.agent_id).map(drop),
        Some(Body::AgentAvailable(b)) => {
            id("agent_id", &b.agent_id)?;
            b.skill_ids.iter().try_for_each(|s| skill_id("skill_ids", s).map(drop))
        }
    }
}

/// Makes `span` a child of the trace carried in the delivery's headers.
pub fn link_parent(span: &tracing::Span, delivery: &Delivery) {
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&DeliveryHeaders(delivery)));
    let _ = span.set_parent(parent);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry::trace::TracerProvider as _;
    use switchyard_platform::bus::{MemoryBus, StartFrom};
    use switchyard_proto::events::v1::DequeueConversation;
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn body() -> Body {
        Body::DequeueConversation(DequeueConversation { conversation_id: "c".into(), skill_id: "s".into() })
    }

    #[test]
    fn event_fields_are_validated_like_requests() {
        let route = |conversation: &str, skill: &str| {
            new(
                "acme",
                0,
                Body::RouteConversation(switchyard_proto::events::v1::RouteConversation {
                    conversation_id: conversation.into(),
                    skill_id: skill.into(),
                    ..Default::default()
                }),
            )
        };
        assert!(validate(&route("c1", "sales")).is_ok());
        assert!(validate(&route("c1", "-1")).is_ok(), "the unassigned skill");
        let err = validate(&route("", "sales")).unwrap_err();
        assert!(matches!(err, ServiceError::InvalidArgument { ref field, .. } if field == "conversation_id"), "{err}");
        assert!(validate(&route("c1", "a b")).is_err());
        let mut bad_account = route("c1", "sales");
        bad_account.account_id = String::new();
        assert!(validate(&bad_account).is_err());
    }

    /// R10.3, R10.8: a response-time change names its conversation, its skill and a known kind.
    #[test]
    fn a_response_time_change_is_validated() {
        let change = |sla: &str, skill: &str| {
            let body = switchyard_proto::events::v1::ResponseTimeChanged {
                conversation_id: "c1".into(),
                sla: sla.into(),
                from_ms: 1,
                skill_id: skill.into(),
            };
            new("acme", 0, Body::ResponseTimeChanged(body))
        };
        assert!(validate(&change("urgent", "sales")).is_ok());
        assert!(validate(&change("manual", "-1")).is_ok());
        // A withdrawn urgent mark names the response time that applies again (R10.3).
        assert!(validate(&change("first_time", "sales")).is_ok());
        assert!(validate(&change("default", "sales")).is_ok());
        let err = validate(&change("soon", "sales")).unwrap_err();
        assert!(matches!(err, ServiceError::InvalidArgument { ref field, .. } if field == "sla"), "{err}");
        assert!(validate(&change("urgent", "")).is_err());
    }

    #[test]
    fn envelopes_carry_id_account_time_and_schema_version() {
        let env = new("acme", 42, body());
        assert_eq!((env.account_id.as_str(), env.occurred_at_ms, env.schema_version), ("acme", 42, 1));
        assert!(uuid::Uuid::parse_str(&env.event_id).is_ok());
        assert_eq!(with_id("x".into(), "acme", 1, body()).event_id, "x");
    }

    /// The trace crosses Kafka: the publisher's span context rides in a `traceparent` header
    /// and the consumer's span continues the same trace.
    #[test]
    fn trace_context_travels_in_record_headers() {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let bus = Arc::new(MemoryBus::new());
                bus.ensure_topics(&["t".to_owned()], 1).await.unwrap();
                let span = tracing::info_span!("publish");
                let trace_id = {
                    use opentelemetry::trace::TraceContextExt;
                    span.context().span().span_context().trace_id()
                };
                publish(&*bus, "t", "k".into(), &new("acme", 0, body())).instrument(span).await.unwrap();
                let mut sub = bus.subscribe("g", &["t".to_owned()], StartFrom::Earliest).await.unwrap();
                let delivery = sub.next().await.unwrap();
                let header = std::str::from_utf8(delivery.header("traceparent").expect("traceparent header")).unwrap();
                assert!(header.contains(&trace_id.to_string()), "{header} carries {trace_id}");
                assert_eq!(Envelope::decode(delivery.payload.as_ref()).unwrap().account_id, "acme");

                let consumer_span = tracing::info_span!("consume");
                link_parent(&consumer_span, &delivery);
                use opentelemetry::trace::TraceContextExt;
                assert_eq!(consumer_span.context().span().span_context().trace_id(), trace_id);
            });
        });
    }
}
