//! Mounts over the provider's socket through the generated client, as the CSI driver calls them.
//!
//! [`latency`] alternates one provider Mount with one [`Bare`] fetch of the same objects, and
//! swaps their order every iteration, so that a slow spell of the endpoint or of the machine
//! falls on both series alike. [`burst`] sends many Mounts at the same instant (one per pod) and
//! waits for all of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use keywarden_proto::csi::csi_driver_provider_client::CsiDriverProviderClient;
use keywarden_proto::csi::{MountRequest, MountResponse};
use serde::Serialize;
use tonic::transport::Channel;

use crate::bare::Bare;
use crate::stats::{self, Summary};
use crate::workload::{Expected, Workload};

type Client = CsiDriverProviderClient<Channel>;

/// The two series of a latency run.
#[derive(Debug, Serialize)]
pub struct LatencyReport {
    /// Objects per Mount.
    pub objects: usize,
    /// Provider Mounts.
    pub provider: Summary,
    /// The bare SDK program.
    pub bare: Summary,
    /// Provider samples, in milliseconds, in the order taken.
    pub provider_ms: Vec<f64>,
    /// Bare samples, in milliseconds, in the order taken.
    pub bare_ms: Vec<f64>,
    /// Provider samples of the untimed rounds, so that the whole run can be compared with the
    /// provider's own duration metric.
    pub warmup_provider_ms: Vec<f64>,
    /// Bare samples of the untimed rounds.
    pub warmup_bare_ms: Vec<f64>,
}

/// What a burst of concurrent Mounts did.
#[derive(Debug, Serialize)]
pub struct BurstReport {
    /// Mounts sent.
    pub mounts: usize,
    /// Mounts that returned every file.
    pub ok: usize,
    /// Mounts that failed.
    pub failed: usize,
    /// Why the first few of them failed.
    pub failures: Vec<String>,
    /// Latency of the successful Mounts.
    pub latency: Summary,
    /// From the first send to the last answer.
    pub wall_ms: f64,
}

/// Sends one Mount and checks that it returned exactly the expected files, byte for byte.
pub async fn mount_once(
    client: &mut Client,
    request: MountRequest,
    expected: &Expected,
) -> anyhow::Result<()> {
    let response = client.mount(request).await?.into_inner();
    check(&response, expected)
}

/// Checks that a Mount answered exactly the expected files, byte for byte.
fn check(response: &MountResponse, expected: &Expected) -> anyhow::Result<()> {
    if let Some(error) = response.error.as_ref().filter(|e| !e.code.is_empty()) {
        anyhow::bail!("Mount answered error {}", error.code);
    }
    anyhow::ensure!(
        response.files.len() == expected.len(),
        "Mount returned {} files, expected {}",
        response.files.len(),
        expected.len()
    );
    for file in &response.files {
        match expected.get(&file.path) {
            Some(want) if want.as_slice() == file.contents.as_ref() => {}
            Some(_) => anyhow::bail!("Mount returned other contents for {}", file.path),
            None => anyhow::bail!("Mount returned an unexpected file {}", file.path),
        }
    }
    Ok(())
}

/// `warmup` untimed rounds, then `iterations` timed rounds of one provider Mount of the
/// workload's first request and one bare fetch of its objects.
pub async fn latency(
    channel: Channel,
    workload: &Workload,
    iterations: usize,
    warmup: usize,
) -> anyhow::Result<LatencyReport> {
    let bare = Bare::from_env().await;
    let mut client = Client::new(channel);
    let request = workload.requests[0].message();
    let files = workload.objects.len();
    let expected = workload.expected()?;
    let mut provider = Vec::with_capacity(warmup + iterations);
    let mut baseline = Vec::with_capacity(warmup + iterations);
    for round in 0..warmup + iterations {
        let mut provider_time = Duration::ZERO;
        let mut bare_time = Duration::ZERO;
        for step in 0..2 {
            // Each side is timed from its request to its answer; both check what they got
            // after the clock stops.
            let mount = request.clone();
            let started = Instant::now();
            if (round + step) % 2 == 0 {
                let response = client.mount(mount).await.context("provider Mount")?;
                provider_time = started.elapsed();
                check(response.get_ref(), &expected).context("provider Mount")?;
            } else {
                let plaintexts = bare.fetch_all(&workload.objects).await?;
                bare_time = started.elapsed();
                for (object, got) in workload.objects.iter().zip(&plaintexts) {
                    anyhow::ensure!(
                        expected.get(&object.path) == Some(got),
                        "the bare fetch returned other contents for {}",
                        object.path
                    );
                }
            }
        }
        provider.push(provider_time);
        baseline.push(bare_time);
    }
    let ms = |s: &[Duration]| s.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    let (warm_provider, provider) = provider.split_at(warmup);
    let (warm_bare, baseline) = baseline.split_at(warmup);
    Ok(LatencyReport {
        objects: files,
        provider: stats::summarize(provider),
        bare: stats::summarize(baseline),
        provider_ms: ms(provider),
        bare_ms: ms(baseline),
        warmup_provider_ms: ms(warm_provider),
        warmup_bare_ms: ms(warm_bare),
    })
}

/// Sends every request of the workload at the same instant, each on its own stream of one
/// connection, and waits for all answers.
pub async fn burst(channel: Channel, workload: &Workload) -> anyhow::Result<BurstReport> {
    let start = Arc::new(tokio::sync::Barrier::new(workload.requests.len() + 1));
    let mut tasks = Vec::with_capacity(workload.requests.len());
    for request in &workload.requests {
        let mut client = Client::new(channel.clone());
        let message = request.message();
        let start = start.clone();
        let expected = workload.expected_for(request)?;
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let started = Instant::now();
            let result = mount_once(&mut client, message, &expected).await;
            (started.elapsed(), result)
        }));
    }
    start.wait().await;
    let began = Instant::now();
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut failures = Vec::new();
    for task in tasks {
        let (elapsed, result) = task.await?;
        match result {
            Ok(()) => latencies.push(elapsed),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let wall = began.elapsed();
    let failed = failures.len();
    failures.truncate(5);
    Ok(BurstReport {
        mounts: workload.requests.len(),
        ok: latencies.len(),
        failed,
        failures,
        latency: stats::summarize(&latencies),
        wall_ms: wall.as_secs_f64() * 1e3,
    })
}
