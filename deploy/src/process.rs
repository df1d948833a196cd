//! Processes the runner starts and stops: spawned detached (own process group, stdin closed,
//! output to a log file) so they outlive the runner, signalled with the `kill` command (this
//! workspace forbids `unsafe`, so no direct syscalls), and recognised by pid plus start time
//! so a recycled pid is never mistaken for a process of the run.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// How often waits poll.
pub const POLL: Duration = Duration::from_millis(50);

/// Starts `command` detached: stdin from /dev/null, stdout and stderr appended to `log`
/// (created or truncated), in a process group of its own so a Ctrl-C meant for the runner's
/// terminal does not reach it.
pub fn spawn_detached(mut command: Command, log: &Path) -> anyhow::Result<Child> {
    let file = File::create(log).with_context(|| format!("creating log file {}", log.display()))?;
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone().with_context(|| format!("opening {}", log.display()))?)
        .stderr(file)
        .process_group(0);
    command.spawn().with_context(|| format!("starting {program}"))
}

/// Like [`spawn_detached`], appending to `log` (a restarted process keeps its history).
pub fn spawn_detached_appending(mut command: Command, log: &Path) -> anyhow::Result<Child> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening log file {}", log.display()))?;
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone().with_context(|| format!("opening {}", log.display()))?)
        .stderr(file)
        .process_group(0);
    command.spawn().with_context(|| format!("starting {program}"))
}

/// Sends `signal` (`TERM`, `KILL`) to `pid` with the `kill` command. Refuses pids 0 and 1
/// (0 would signal the runner's own process group).
pub fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    if pid <= 1 {
        anyhow::bail!("refusing to signal pid {pid}");
    }
    let output = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .stdin(Stdio::null())
        .output()
        .context("running `kill` (it must be on PATH)")?;
    if output.status.success() {
        Ok(())
    } else {
        anyhow::bail!("kill -s {signal} {pid}: {}", String::from_utf8_lossy(&output.stderr).trim())
    }
}

fn has_procfs() -> bool {
    Path::new("/proc/self/stat").is_file()
}

/// The fields of /proc/<pid>/stat after the command name (field 3, the state, first).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// When the process started (clock ticks since boot), where /proc tells; None elsewhere.
pub fn start_time(pid: u32) -> Option<u64> {
    // Field 22 of /proc/<pid>/stat; the list starts at field 3.
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// True if `pid` runs (a zombie counts as gone).
pub fn is_alive(pid: u32) -> bool {
    if pid <= 1 {
        return false;
    }
    if has_procfs() {
        let Some(state) = stat_fields(pid).and_then(|f| f.first().cloned()) else { return false };
        // A killed process's main thread shows as a zombie while its other threads still
        // exit and hold its files (its listening sockets among them): gone once none is left.
        return !matches!(state.as_str(), "Z" | "X" | "x") || threads_left(pid) > 1;
    }
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Threads of `pid` still listed in /proc (a zombie's main thread counts as one).
fn threads_left(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |entries| entries.count())
}

/// True if `pid` is still the process that was recorded: alive and, where the start time is
/// known, started at the same time (not a recycled pid).
pub fn is_same_process(pid: u32, recorded_start: Option<u64>) -> bool {
    if !is_alive(pid) {
        return false;
    }
    match (recorded_start, start_time(pid)) {
        (Some(recorded), Some(now)) => recorded == now,
        _ => true,
    }
}

/// How a stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was not running.
    AlreadyGone,
    /// It exited after SIGTERM.
    Terminated,
    /// It ignored SIGTERM for the whole grace period and was killed.
    Killed,
}

/// Waits until none of `procs` (pid, start time) runs, or `timeout`; returns those still running.
pub fn wait_all_gone(procs: &[(u32, Option<u64>)], timeout: Duration) -> Vec<(u32, Option<u64>)> {
    let deadline = Instant::now() + timeout;
    loop {
        let left: Vec<_> = procs.iter().copied().filter(|(pid, start)| is_same_process(*pid, *start)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(POLL);
    }
}

/// Stops a group of processes together: SIGTERM to all, up to `grace` for them to exit, then
/// SIGKILL for those left. Returns one outcome per input, in order; an error if a process
/// survives SIGKILL for 10 s.
pub fn stop_group(procs: &[(u32, Option<u64>)], grace: Duration) -> anyhow::Result<Vec<Stopped>> {
    let mut outcome = Vec::with_capacity(procs.len());
    let mut signalled = Vec::new();
    for &(pid, start) in procs {
        if !is_same_process(pid, start) {
            outcome.push(Stopped::AlreadyGone);
            continue;
        }
        match signal(pid, "TERM") {
            Ok(()) => {
                outcome.push(Stopped::Terminated);
                signalled.push((pid, start));
            }
            // It exited between the check and the signal.
            Err(_) if !is_same_process(pid, start) => outcome.push(Stopped::AlreadyGone),
            Err(err) => return Err(err.context(format!("stopping pid {pid}"))),
        }
    }
    let stubborn = wait_all_gone(&signalled, grace);
    for &(pid, start) in &stubborn {
        if is_same_process(pid, start) {
            let _ = signal(pid, "KILL");
        }
        if let Some(i) = procs.iter().position(|p| p.0 == pid) {
            outcome[i] = Stopped::Killed;
        }
    }
    let survivors = wait_all_gone(&stubborn, Duration::from_secs(10));
    if !survivors.is_empty() {
        let pids: Vec<String> = survivors.iter().map(|(p, _)| p.to_string()).collect();
        anyhow::bail!("still running after SIGKILL: pid {}", pids.join(", "));
    }
    Ok(outcome)
}

/// The last `lines` lines of a log file (at most its last 64 KiB), for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let read = || -> std::io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(MAX)))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            let tail = all[all.len().saturating_sub(lines)..].join("\n");
            if tail.trim().is_empty() {
                format!("({} is empty)", path.display())
            } else {
                tail
            }
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawned_process_is_seen_alive_and_stopped_by_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sleep.log");
        let mut command = Command::new("sh");
        command.args(["-c", "echo started; exec sleep 60"]);
        let mut child = spawn_detached(command, &log).unwrap();
        let pid = child.id();
        // Wait (bounded) until the shell has run: on a busy machine SIGTERM could otherwise
        // arrive before `echo`, and the log would be empty.
        for _ in 0..500 {
            if log_tail(&log, 5).contains("started") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let start = start_time(pid);
        assert!(start.is_some(), "procfs gives the start time");
        assert!(is_same_process(pid, start));
        assert!(!is_same_process(pid, start.map(|s| s + 1)), "another start time is another process");
        let outcome = stop_group(&[(pid, start)], Duration::from_secs(10)).unwrap();
        assert_eq!(outcome, [Stopped::Terminated]);
        assert!(!is_same_process(pid, start));
        let _ = child.wait();
        assert_eq!(stop_group(&[(pid, start)], Duration::from_secs(1)).unwrap(), [Stopped::AlreadyGone]);
        assert!(log_tail(&log, 5).contains("started"));
    }

    #[test]
    fn pids_0_and_1_are_never_signalled() {
        assert!(signal(0, "TERM").unwrap_err().to_string().contains("refusing"));
        assert!(signal(1, "TERM").is_err());
        assert!(!is_alive(0));
    }

    #[test]
    fn the_tail_of_a_missing_log_says_so() {
        let text = log_tail(Path::new("/nonexistent/x.log"), 5);
        assert!(text.starts_with("(cannot read /nonexistent/x.log"), "{text}");
    }
}
