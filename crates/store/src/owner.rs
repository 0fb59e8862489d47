//! Who trains a running run, and whether that process is still alive.
//!
//! An owner is `host pid start-time token`: the pid alone is reused by the kernel, so the
//! process's start time (field 22 of `/proc/<pid>/stat`) tells a live owner from a new
//! process that got its pid; the token tells two store handles of one process apart.

use std::sync::atomic::{AtomicU64, Ordering};

/// This host's name.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
        .replace(' ', "_")
}

/// Start time of process `pid` in clock ticks since boot, if it exists (Linux).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A fresh owner for one store handle of this process.
pub(crate) fn new_owner() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    let nanos = crate::store::now().to_bits();
    let token = format!("{:x}{:x}", nanos, COUNTER.fetch_add(1, Ordering::SeqCst));
    format!("{} {pid} {} {token}", hostname(), start_time(pid).unwrap_or(0))
}

/// Whether `owner` is (probably) alive. On this host: its pid exists with the same start
/// time. Another host's owner cannot be checked from here and counts as alive; a malformed
/// or missing owner (a run claimed before owners were recorded) counts as dead.
pub(crate) fn is_alive(owner: Option<&str>) -> bool {
    let Some(owner) = owner else { return false };
    let f: Vec<&str> = owner.split(' ').collect();
    let [host, pid, start, _token] = f[..] else { return false };
    if host != hostname() {
        return true;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    start_time(pid).is_some_and(|s| s == start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_gone_one_is_not() {
        assert!(is_alive(Some(&new_owner())));
        let me = new_owner();
        let f: Vec<&str> = me.split(' ').collect();
        // Same pid, another start time: the pid was reused, the owner is dead.
        assert!(!is_alive(Some(&format!("{} {} 1 t", f[0], f[1]))));
        assert!(!is_alive(Some(&format!("{} 4000000000 {} t", f[0], f[2]))));
        assert!(!is_alive(None));
        assert!(is_alive(Some("elsewhere 1 1 t")));
    }
}
