//! What the benchmark ran on: CPU model, cores, memory, kernel, load.

/// A description of this machine, read from `/proc` (fields are "unknown" elsewhere).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    /// `model name` of the first CPU in `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Logical CPUs available to this process.
    pub logical_cpus: usize,
    /// Instruction-set extensions relevant to the kernels (avx2, fma, avx512f, …) found.
    pub simd: Vec<String>,
    /// Total memory in bytes (`MemTotal`).
    pub ram_bytes: u64,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
}

/// Reads the machine description.
#[must_use]
pub fn describe() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let flags = field("flags").unwrap_or_default();
    let simd = [
        "sse4_2",
        "avx",
        "avx2",
        "fma",
        "avx512f",
        "avx512_bf16",
        "amx_tile",
    ]
    .iter()
    .filter(|f| flags.split_whitespace().any(|x| x == **f))
    .map(|f| (*f).to_string())
    .collect();
    let ram_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    Machine {
        cpu_model: field("model name").unwrap_or_else(|| "unknown".into()),
        logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        simd,
        ram_bytes,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |s| s.trim().to_string()),
    }
}

/// The 1-minute load average (`/proc/loadavg`), a sign of how quiet the machine was.
#[must_use]
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn describes_this_machine() {
        let m = super::describe();
        assert!(m.logical_cpus >= 1);
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(m.ram_bytes > 0);
            assert_ne!(m.cpu_model, "");
        }
    }
}
