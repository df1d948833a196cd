//! Kafka event bus (being written).
pub struct KafkaBus;
pub struct KafkaSettings;
