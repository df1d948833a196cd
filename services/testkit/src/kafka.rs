//! A throw-away Kafka-protocol broker on a free loopback port, killed on drop.
//! (Filled in with the bus conformance work.)

pub struct KafkaBroker {
    pub bootstrap: String,
}
