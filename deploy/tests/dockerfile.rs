//! deploy/Dockerfile, checked by structure (images cannot be pulled here): a builder stage
//! that builds the `switchyard` binary, a runtime stage that copies only that binary, runs as
//! a non-root user and starts it as the entrypoint; and an ignore file that still sends every
//! workspace member.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

/// One instruction: keyword (upper case) and its arguments, continuations joined.
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

fn parse(text: &str) -> Vec<Instruction> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        // Comments (and the syntax directive) only at the start of a logical instruction, or
        // between continuation lines.
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let logical = std::mem::take(&mut current);
                let (keyword, args) = logical.split_once(char::is_whitespace).unwrap_or((&logical, ""));
                instructions.push(Instruction { keyword: keyword.to_uppercase(), args: args.trim().to_owned() });
            }
        }
    }
    assert!(current.trim().is_empty(), "a continuation runs off the end: {current}");
    instructions
}

/// Stages: each starts at a FROM.
fn stages(instructions: &[Instruction]) -> Vec<Vec<Instruction>> {
    let mut stages: Vec<Vec<Instruction>> = Vec::new();
    for i in instructions {
        if i.keyword == "FROM" {
            stages.push(Vec::new());
        }
        stages.last_mut().expect("the first instruction is FROM (or ARG)").push(i.clone());
    }
    stages
}

fn dockerfile() -> Vec<Instruction> {
    let text = common::read(&common::deploy_dir().join("Dockerfile"));
    let instructions = parse(&text);
    let known = ["FROM", "WORKDIR", "COPY", "RUN", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "ENV", "ARG", "LABEL"];
    for i in &instructions {
        assert!(known.contains(&i.keyword.as_str()), "unexpected instruction {i:?}");
    }
    instructions
}

#[test]
fn multi_stage_build_of_the_switchyard_binary() {
    let stages = stages(&dockerfile());
    assert!(stages.len() >= 2, "at least a builder and a runtime stage");
    let builder = &stages[0];
    assert_eq!(builder[0].args, "rust:1-bookworm AS builder");
    let build = builder.iter().find(|i| i.keyword == "RUN" && i.args.contains("cargo build")).expect("a cargo build");
    assert!(build.args.contains("cargo build --release --locked -p switchyard"), "{build:?}");
    assert!(build.args.contains("target/release/switchyard /out/switchyard"), "the binary is copied out: {build:?}");
}

#[test]
fn the_runtime_stage_holds_only_the_binary_and_runs_it_as_non_root() {
    let stages = stages(&dockerfile());
    let runtime = stages.last().unwrap();
    let base = runtime[0].args.split_whitespace().next().unwrap();
    assert!(["gcr.io/distroless/cc-debian12:nonroot", "debian:bookworm-slim"].contains(&base), "runtime base {base}");

    // Exactly one COPY (no ADD): the switchyard binary from the builder.
    assert!(!runtime.iter().any(|i| i.keyword == "ADD"));
    let copies: Vec<&Instruction> = runtime.iter().filter(|i| i.keyword == "COPY").collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let words: Vec<&str> = copies[0].args.split_whitespace().collect();
    assert_eq!(words, ["--from=builder", "/out/switchyard", "/usr/local/bin/switchyard"]);

    // A non-root user, set after the copy and not changed back.
    let users: Vec<&Instruction> = runtime.iter().filter(|i| i.keyword == "USER").collect();
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0].args, "65532:65532");
    let user_at = runtime.iter().position(|i| i.keyword == "USER").unwrap();
    let copy_at = runtime.iter().position(|i| i.keyword == "COPY").unwrap();
    assert!(copy_at < user_at);
    assert!(!runtime[user_at..].iter().any(|i| i.keyword == "RUN"), "nothing runs as root after USER");
    if base.starts_with("debian") {
        let create = runtime.iter().find(|i| i.keyword == "RUN").expect("the user is created");
        assert!(create.args.contains("--uid 65532") && create.args.contains("--gid 65532"), "{create:?}");
    }

    let entrypoint: Vec<String> =
        serde_json::from_str(&runtime.iter().rfind(|i| i.keyword == "ENTRYPOINT").unwrap().args).unwrap();
    assert_eq!(entrypoint, ["/usr/local/bin/switchyard"]);

    // Single ports or ranges (7101-7109).
    let exposed: Vec<std::ops::RangeInclusive<u16>> = runtime
        .iter()
        .filter(|i| i.keyword == "EXPOSE")
        .flat_map(|i| i.args.split_whitespace().map(|p| p.trim_end_matches("/tcp").to_owned()).collect::<Vec<_>>())
        .map(|p| match p.split_once('-') {
            Some((low, high)) => low.parse().unwrap()..=high.parse().unwrap(),
            None => p.parse().unwrap()..=p.parse().unwrap(),
        })
        .collect();
    for service in switchyard_registry::Service::ALL {
        for port in [service.grpc_port(), service.ops_port()] {
            assert!(exposed.iter().any(|r| r.contains(&port)), "EXPOSE {port} ({service})");
        }
    }
}

/// The build context is the repository root and deploy/Dockerfile.dockerignore applies: it
/// must keep every workspace member (cargo loads them all) and drop build output.
#[test]
fn the_ignore_file_keeps_every_workspace_member() {
    let ignore = common::read(&common::deploy_dir().join("Dockerfile.dockerignore"));
    let rules: Vec<&str> = ignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert_eq!(rules.first(), Some(&"*"), "an allowlist");
    let manifest: toml::Table = common::read(&common::repo_root().join("Cargo.toml")).parse().unwrap();
    let members = manifest["workspace"]["members"].as_array().unwrap();
    let mut needed: Vec<String> = members
        .iter()
        .map(|m| m.as_str().unwrap().split('/').next().unwrap().to_owned())
        .chain(["Cargo.toml".to_owned(), "Cargo.lock".to_owned()])
        .collect();
    needed.dedup();
    for path in needed {
        assert!(rules.contains(&format!("!{path}").as_str()), "{path} is sent to the build: {rules:?}");
    }
    assert!(rules.contains(&"**/target"), "{rules:?}");
}

#[test]
fn the_parser_joins_continuations_and_skips_comments() {
    let parsed = parse("# syntax=docker/dockerfile:1\nFROM a AS b\n\nRUN x \\\n  # inner comment\n  && y\nUSER 1:1\n");
    let summary: Vec<(String, String)> = parsed.into_iter().map(|i| (i.keyword, i.args)).collect();
    assert_eq!(
        summary,
        [("FROM".into(), "a AS b".into()), ("RUN".into(), "x  && y".into()), ("USER".into(), "1:1".into())]
    );
}
