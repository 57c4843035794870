//! Warm re-Mounts for a fixed time from many clients at once, as the driver sends them when
//! every pod of a node re-mounts: one connection, `concurrency` Mounts in flight. Every answer is
//! checked against the seeded contents; throughput and latency of the measured part are reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use keywarden_proto::csi::csi_driver_provider_client::CsiDriverProviderClient;
use serde::Serialize;
use tonic::transport::Channel;

use crate::mount::mount_once;
use crate::stats::{self, Summary};
use crate::workload::Workload;

/// What a load run did.
#[derive(Debug, Serialize)]
pub struct RemountReport {
    /// Mounts in flight at once.
    pub concurrency: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// Mounts completed in the measured time.
    pub mounts: usize,
    /// Mounts per second.
    pub mounts_per_sec: f64,
    /// Latency of the measured Mounts.
    pub latency: Summary,
}

/// Runs `concurrency` clients, each re-mounting the workload's requests in turn, for `warmup`
/// then `duration`.
pub async fn run(
    channel: Channel,
    workload: &Workload,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<RemountReport> {
    let expected = Arc::new(workload.expected()?);
    let requests: Arc<Vec<_>> = Arc::new(workload.requests.iter().map(|r| r.message()).collect());
    let begin = Instant::now();
    let measure_from = begin + warmup;
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let mut client = CsiDriverProviderClient::new(channel.clone());
        let (expected, requests, stop) = (expected.clone(), requests.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = i;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let request = requests[n % requests.len()].clone();
                mount_once(&mut client, request, &expected).await?;
                if started >= measure_from {
                    latencies.push(started.elapsed());
                }
                n += concurrency;
            }
            anyhow::Ok(latencies)
        }));
    }
    tokio::time::sleep_until((measure_from + duration).into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await??);
    }
    let seconds = duration.as_secs_f64();
    Ok(RemountReport {
        concurrency,
        seconds,
        mounts: latencies.len(),
        mounts_per_sec: latencies.len() as f64 / seconds,
        latency: stats::summarize(&latencies),
    })
}
