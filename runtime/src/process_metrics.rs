//! Process gauges read at scrape time: open file descriptors, resident memory and live tokio
//! tasks. They are what an operator (and the load tests) watch to see a leak, and both binaries
//! export them under the standard `process_` names plus `tokio_alive_tasks`.

use std::path::Path;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// Reads `/proc/self` and the current tokio runtime on every scrape; holds no state.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessCollector;

/// One reading of the process gauges; a field is `None` where the system cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// Entries of `/proc/self/fd`.
    pub open_fds: Option<i64>,
    /// Resident set size in bytes (`VmRSS`).
    pub resident_bytes: Option<i64>,
    /// Peak resident set size in bytes (`VmHWM`).
    pub peak_resident_bytes: Option<i64>,
    /// Tasks alive on the tokio runtime the scrape runs on.
    pub alive_tasks: Option<i64>,
}

impl Reading {
    /// Takes a reading now.
    pub fn now() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").ok();
        let field = |name| status.as_deref().and_then(|s| status_kib(s, name));
        Self {
            open_fds: count_entries(Path::new("/proc/self/fd")),
            resident_bytes: field("VmRSS:").map(|kib| kib * 1024),
            peak_resident_bytes: field("VmHWM:").map(|kib| kib * 1024),
            alive_tasks: tokio::runtime::Handle::try_current()
                .ok()
                .and_then(|h| i64::try_from(h.metrics().num_alive_tasks()).ok()),
        }
    }
}

/// The value in KiB of a `/proc/<pid>/status` line such as `VmRSS:   1234 kB`.
fn status_kib(status: &str, name: &str) -> Option<i64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn count_entries(dir: &Path) -> Option<i64> {
    let entries = std::fs::read_dir(dir).ok()?;
    // The directory handle read_dir holds is itself one of the entries; do not count it.
    i64::try_from(entries.count()).ok().map(|n| n - 1)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let reading = Reading::now();
        let gauges: [(&str, &str, Option<Unit>, Option<i64>); 4] = [
            (
                "process_open_fds",
                "Open file descriptors",
                None,
                reading.open_fds,
            ),
            (
                "process_resident_memory",
                "Resident set size",
                Some(Unit::Bytes),
                reading.resident_bytes,
            ),
            (
                "process_peak_resident_memory",
                "Peak resident set size since start",
                Some(Unit::Bytes),
                reading.peak_resident_bytes,
            ),
            (
                "tokio_alive_tasks",
                "Tasks alive on the async runtime",
                None,
                reading.alive_tasks,
            ),
        ];
        for (name, help, unit, value) in gauges {
            if let Some(value) = value {
                let metric = ConstGauge::new(value);
                let encoder =
                    encoder.encode_descriptor(name, help, unit.as_ref(), metric.metric_type())?;
                metric.encode(encoder)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    #[test]
    fn status_lines_are_read_in_kib() {
        let status = "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024));
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        assert_eq!(status_kib("VmRSS:\tlots kB\n", "VmRSS:"), None);
    }

    #[test]
    fn opened_files_are_counted() {
        // Other tests run in parallel threads of this process and open a few descriptors of
        // their own, so the check leaves them room.
        let before = Reading::now().open_fds.expect("linux has /proc/self/fd");
        let files: Vec<_> = (0..64)
            .map(|_| std::fs::File::open("/proc/self/status").expect("open"))
            .collect();
        let during = Reading::now().open_fds.expect("still readable");
        drop(files);
        assert!(
            (before + 56..=before + 72).contains(&during),
            "{before} -> {during}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn scrape_reports_every_gauge_with_live_values() {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessCollector));
        let idle = tokio::spawn(std::future::pending::<()>());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        idle.abort();
        let value = |name: &str| -> i64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
        };
        assert!(value("process_open_fds") >= 3);
        assert!(value("process_resident_memory_bytes") > 1 << 20);
        assert!(
            value("process_peak_resident_memory_bytes") >= value("process_resident_memory_bytes")
        );
        assert!(value("tokio_alive_tasks") >= 1, "the spawned task is alive");
    }
}
