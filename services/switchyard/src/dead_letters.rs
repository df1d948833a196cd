//! `switchyard dead-letters list|replay`: the records consumers gave up on, read from the
//! dead-letter topic outside any consumer group (nothing is committed, nothing is left on the
//! broker), and put back on their topic on request.

use std::time::Duration;

use anyhow::Context;
use switchyard_kit::consumer::dead_letter::{self, Letter};

use crate::cli::DeadLetters;
use crate::Config;

/// The read ends when no letter came for this long.
const IDLE: Duration = Duration::from_secs(2);

pub async fn run(config: &Config, what: &DeadLetters) -> anyhow::Result<()> {
    let bus = crate::kafka_bus(config)?;
    let topic = config.kafka.topics().dead_letters;
    match what {
        DeadLetters::List { group, limit } => {
            let letters = dead_letter::read(&bus, &topic, group.as_deref(), IDLE, *limit)
                .await
                .with_context(|| format!("reading {topic}"))?;
            for letter in &letters {
                println!("{}", letter.describe());
            }
            eprintln!("{} dead letters in {topic}", letters.len());
        }
        DeadLetters::Replay { letters, all, group } => {
            let wanted: Vec<(i32, i64)> = letters.iter().map(|l| parse_letter(l)).collect::<anyhow::Result<_>>()?;
            let found = dead_letter::read(&bus, &topic, group.as_deref(), IDLE, usize::MAX)
                .await
                .with_context(|| format!("reading {topic}"))?;
            let chosen: Vec<Letter> =
                found.into_iter().filter(|l| *all || wanted.contains(&(l.partition, l.offset))).collect();
            if let Some(missing) = wanted.iter().find(|w| !chosen.iter().any(|l| (l.partition, l.offset) == **w)) {
                anyhow::bail!("no dead letter {}/{} in {topic}{}", missing.0, missing.1, group_note(group));
            }
            let replayed = dead_letter::replay(&bus, &chosen).await.context("replaying")?;
            for letter in &chosen {
                println!("replayed {}/{} to {}", letter.partition, letter.offset, letter.origin());
            }
            eprintln!("{replayed} dead letters replayed");
        }
    }
    Ok(())
}

fn group_note(group: &Option<String>) -> String {
    group.as_ref().map(|g| format!(" for group {g}")).unwrap_or_default()
}

/// `PARTITION/OFFSET`.
fn parse_letter(text: &str) -> anyhow::Result<(i32, i64)> {
    let parsed = text.split_once('/').and_then(|(p, o)| Some((p.parse().ok()?, o.parse().ok()?)));
    parsed.ok_or_else(|| anyhow::anyhow!("--letter {text:?}: expected PARTITION/OFFSET, e.g. 3/42"))
}
