//! One command at a time per run directory: `up`, `restart` and `stop` hold `<dir>/lock` while
//! they change the run, so a `stop` cannot slip in while a `restart` is starting a process
//! again (it would miss the new pid and leave the process running).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::process;

/// How long a command waits for another one on the same directory.
pub const WAIT: Duration = Duration::from_secs(90);

/// Held while a command changes the run; removed when dropped.
pub struct RunLock {
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock of `dir`, waiting up to `timeout` for another command to finish. A lock
    /// whose holder is gone is taken over.
    pub fn acquire(dir: &Path, timeout: Duration) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("lock");
        let deadline = Instant::now() + timeout;
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    write!(file, "{}", std::process::id()).with_context(|| format!("writing {}", path.display()))?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder: Option<u32> = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse().ok());
                    match holder {
                        Some(pid) if process::is_alive(pid) => {
                            if Instant::now() >= deadline {
                                anyhow::bail!(
                                    "another switchyard-local command (pid {pid}) is changing the run in {}; try again when it is done",
                                    dir.display()
                                );
                            }
                            std::thread::sleep(process::POLL);
                        }
                        // Its holder died (or is still writing its pid): take it over once stale.
                        _ => {
                            std::thread::sleep(process::POLL);
                            let still: Option<u32> =
                                std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse().ok());
                            if still.is_none_or(|pid| !process::is_alive(pid)) {
                                let _ = std::fs::remove_file(&path);
                            }
                        }
                    }
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_command_at_a_time_and_a_dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let held = RunLock::acquire(dir.path(), WAIT).unwrap();
        let err = RunLock::acquire(dir.path(), Duration::from_millis(200)).err().unwrap().to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop(held);
        let again = RunLock::acquire(dir.path(), Duration::from_millis(200)).unwrap();
        drop(again);
        // A lock left by a process that is gone.
        std::fs::write(dir.path().join("lock"), "999999999").unwrap();
        assert!(RunLock::acquire(dir.path(), Duration::from_secs(2)).is_ok());
    }
}
