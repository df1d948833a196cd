//! Kafka over SSL and SASL. librdkafka is built with OpenSSL and Cyrus SASL, so clients with
//! `security.protocol = SASL_SSL` and each SASL mechanism the README lists are created (before,
//! librdkafka refused them and the services exited at start); the password comes from a file.
//!
//! tansu 0.6, the test broker, authenticates SASL (`--authentication`) but does not speak TLS
//! (its `--cert`/`--key` options are read and never used), and it takes any PLAIN password. So
//! SCRAM-SHA-256 and SCRAM-SHA-512 are checked end to end over SASL_PLAINTEXT: the right
//! password publishes and consumes, a wrong one is refused. SSL itself is checked no further
//! than the client's creation with the CA file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use switchyard_platform::bus::{BusError, EventBus, KafkaBus, KafkaSettings, Record, StartFrom};
use switchyard_testkit::{unique, KafkaBroker, TestPki};

#[test]
fn clients_are_created_with_sasl_ssl_and_every_mechanism() {
    let pki = TestPki::new("kafka").unwrap();
    let password = pki.dir().join("sasl-password");
    std::fs::write(&password, "s3cret\n").unwrap();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let settings = KafkaSettings::new("127.0.0.1:1")
            .with("security.protocol", "SASL_SSL")
            .with("sasl.mechanism", mechanism)
            .with("sasl.username", "switchyard")
            .with("ssl.ca.location", pki.ca_file().display().to_string())
            .with_file("sasl.password", &password);
        let bus = KafkaBus::new(settings);
        assert!(bus.is_ok(), "{mechanism}: {:?}", bus.err());
    }
    // Mutual TLS: a client certificate and key from files.
    let client = pki.client();
    let settings = KafkaSettings::new("127.0.0.1:1")
        .with("security.protocol", "SSL")
        .with("ssl.ca.location", pki.ca_file().display().to_string())
        .with("ssl.certificate.location", client.cert.display().to_string())
        .with("ssl.key.location", client.key.display().to_string());
    assert!(KafkaBus::new(settings).is_ok());
    // GSSAPI needs Cyrus SASL in librdkafka (the `sasl` feature).
    let settings = KafkaSettings::new("127.0.0.1:1")
        .with("security.protocol", "SASL_PLAINTEXT")
        .with("sasl.mechanism", "GSSAPI")
        .with("sasl.kerberos.kinit.cmd", "true");
    assert!(KafkaBus::new(settings).is_ok());
}

#[test]
fn a_missing_secret_file_names_the_setting_and_the_path() {
    let settings = KafkaSettings::new("127.0.0.1:1")
        .with("security.protocol", "SASL_SSL")
        .with("sasl.mechanism", "PLAIN")
        .with_file("sasl.password", "/nonexistent/sasl-password");
    let err = KafkaBus::new(settings).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("sasl.password") && err.contains("/nonexistent/sasl-password"), "{err}");
}

fn sasl(broker: &KafkaBroker, mechanism: &str, user: &str, password_file: &std::path::Path) -> KafkaSettings {
    KafkaSettings::new(broker.bootstrap())
        .with("security.protocol", "SASL_PLAINTEXT")
        .with("sasl.mechanism", mechanism)
        .with("sasl.username", user)
        .with_file("sasl.password", password_file)
        .with("session.timeout.ms", "6000")
        .with("heartbeat.interval.ms", "500")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_users_publish_and_consume_and_a_wrong_password_is_refused() {
    let broker =
        KafkaBroker::start_with_scram_users(&[("sy256", "pw-256", "scram256"), ("sy512", "pw-512", "scram512")])
            .await
            .expect("start tansu with SCRAM users");
    let dir = TestPki::new("kafka-secrets").unwrap();
    for (mechanism, user, password) in [("SCRAM-SHA-256", "sy256", "pw-256"), ("SCRAM-SHA-512", "sy512", "pw-512")] {
        let file = dir.dir().join(user);
        std::fs::write(&file, format!("{password}\n")).unwrap();
        let bus = KafkaBus::new(sasl(&broker, mechanism, user, &file)).unwrap();
        let topic = unique("secure");
        bus.ensure_topics(std::slice::from_ref(&topic), 1).await.expect(mechanism);
        bus.publish(Record::new(&topic, "k", mechanism)).await.expect(mechanism);
        let mut sub = bus.subscribe(&unique("g"), std::slice::from_ref(&topic), StartFrom::Earliest).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(30), sub.next()).await.expect("a record").unwrap();
        assert_eq!(&got.payload[..], mechanism.as_bytes());

        let wrong = dir.dir().join(format!("{user}-wrong"));
        std::fs::write(&wrong, "not-the-password").unwrap();
        let bus = KafkaBus::new(sasl(&broker, mechanism, user, &wrong)).unwrap();
        let err = bus.ensure_topics(&[unique("refused")], 1).await.unwrap_err();
        assert!(matches!(err, BusError::Unavailable(_) | BusError::Other(_)), "{mechanism}: {err:?}");
        assert!(!err.to_string().contains("not-the-password"), "{err}");
    }
}
