//! Peak resident memory: of this process per phase (the kernel's `VmHWM`, reset through
//! `/proc/self/clear_refs`), and of a child process (`wait4`'s `ru_maxrss`).

use std::process::Command;
use std::time::Instant;

/// Resets this process's peak-RSS mark so that [`peak_rss_bytes`] reports the peak since now
/// (Linux ≥ 4.0; a no-op elsewhere, where the peak is the whole process's).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size of this process in bytes (since the last [`reset_peak_rss`]).
#[must_use]
pub fn peak_rss_bytes() -> u64 {
    if let Ok(s) = std::fs::read_to_string("/proc/self/status") {
        if let Some(kb) = s
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        {
            return kb * 1024;
        }
    }
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru.ru_maxrss as u64 * 1024
    }
}

/// How a child process ran.
#[derive(Debug, Clone, Copy)]
pub struct ChildRun {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Wall-clock seconds from spawn to exit.
    pub wall_s: f64,
    /// Peak resident set size in bytes.
    pub peak_rss: u64,
}

/// Runs `cmd` to completion and reports its exit code, wall time and peak RSS. Output goes
/// wherever `cmd` sends it.
pub fn run_child(cmd: &mut Command) -> std::io::Result<ChildRun> {
    let t = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 on our own child; it fills `status` and the zeroed `ru`. std's `Child` is
    // not waited on afterwards (dropping it does not wait), so the pid is reaped exactly once.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        loop {
            let r = libc::wait4(pid, &mut status, 0, &mut ru);
            if r == pid {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        ru
    };
    let wall_s = t.elapsed().as_secs_f64();
    drop(child);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok(ChildRun {
        code,
        wall_s,
        peak_rss: ru.ru_maxrss as u64 * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_sees_a_large_allocation() {
        reset_peak_rss();
        let before = peak_rss_bytes();
        assert!(before > 0);
        let v = vec![1u8; 64 << 20];
        std::hint::black_box(&v);
        assert!(peak_rss_bytes() >= before + (60 << 20));
    }

    #[test]
    fn child_exit_code_and_memory() {
        let r = run_child(Command::new("sh").args(["-c", "exit 3"])).unwrap();
        assert_eq!(r.code, Some(3));
        assert!(r.peak_rss > 0 && r.wall_s >= 0.0);
    }
}
