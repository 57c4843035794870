//! Concurrent KMS v2 Decrypts over a plugin socket for a fixed time, as kube-apiserver sends them
//! when it reads many objects: one connection, many calls in flight on it.
//!
//! The ciphertext comes from one Encrypt through the same socket, so against `keywarden-kms` every
//! Decrypt is answered from its cache (the Encrypt fills it) and no call reaches AWS; against the
//! no-op server the same requests are answered with fixed bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use keywarden_proto::kms_v2::key_management_service_client::KeyManagementServiceClient;
use keywarden_proto::kms_v2::{DecryptRequest, EncryptRequest};
use serde::Serialize;
use tonic::transport::Channel;

use crate::stats::{self, Summary};

/// A request id shaped like the apiserver's (a UUID).
const UID: &str = "5f0c3a52-7b7e-4a40-9d0b-6c1d2e3f4a5b";

/// What a load run achieved.
#[derive(Debug, Serialize)]
pub struct LoadReport {
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Measured time, seconds.
    pub seconds: f64,
    /// Decrypts completed in the measured time.
    pub calls: usize,
    /// Decrypts per second.
    pub ops_per_sec: f64,
    /// Latency of the measured calls.
    pub latency: Summary,
}

/// Runs `concurrency` callers for `warmup` (not counted) and then `duration`.
pub async fn run(
    channel: Channel,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<LoadReport> {
    let mut client = KeyManagementServiceClient::new(channel);
    let seed = vec![42u8; 32];
    let encrypted = client
        .encrypt(EncryptRequest {
            plaintext: seed,
            uid: UID.into(),
        })
        .await
        .context("Encrypt")?
        .into_inner();
    let request = DecryptRequest {
        ciphertext: encrypted.ciphertext,
        uid: UID.into(),
        key_id: encrypted.key_id,
        annotations: encrypted.annotations,
    };
    client
        .decrypt(request.clone())
        .await
        .context("first Decrypt")?;

    let begin = Instant::now();
    let measure_from = begin + warmup;
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let mut client = client.clone();
        let request = request.clone();
        let stop = stop.clone();
        callers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let answer = client.decrypt(request.clone()).await?;
                anyhow::ensure!(!answer.get_ref().plaintext.is_empty(), "empty plaintext");
                if started >= measure_from {
                    latencies.push(started.elapsed());
                }
            }
            Ok(latencies)
        }));
    }
    tokio::time::sleep_until((measure_from + duration).into()).await;
    stop.store(true, Ordering::Relaxed);
    let measured = measure_from.elapsed();
    let mut latencies = Vec::new();
    for caller in callers {
        latencies.extend(caller.await??);
    }
    let seconds = measured.as_secs_f64();
    Ok(LoadReport {
        concurrency,
        seconds,
        calls: latencies.len(),
        ops_per_sec: latencies.len() as f64 / seconds,
        latency: stats::summarize(&latencies),
    })
}
