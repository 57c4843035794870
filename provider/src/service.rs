//! The `v1alpha1.CSIDriverProvider` gRPC service: admission (load shedding), the Mount
//! deadline, the one log line and the metrics of each Mount, and the mapping of errors to
//! gRPC statuses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keywarden_proto::csi::csi_driver_provider_server::CsiDriverProvider;
use keywarden_proto::csi::{MountRequest, MountResponse, VersionRequest, VersionResponse};
use keywarden_runtime::RepairedConnectInfo;
use tokio::sync::Semaphore;
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::budget::NodeBudget;
use crate::error::MountError;
use crate::metrics::Metrics;
use crate::mount::{Mounted, Mounter};
use crate::params::{self, MountParams, PodInfo};
use crate::plan_cache::PlanCache;

/// Provider name the driver knows us by (`<name>.sock`, `runtime_name`).
pub const RUNTIME_NAME: &str = "keywarden";

/// What a Mount needs to be let in: a free slot and room in the memory budget.
#[derive(Debug, Clone)]
pub struct Admission {
    /// `--max-concurrent-mounts`.
    pub max_in_flight: usize,
    /// The node-wide memory budget (`--max-inflight-bytes`).
    pub budget: NodeBudget,
    /// `--max-response-bytes`: what one Mount's files may total.
    pub max_response_bytes: usize,
    /// `--sync-controller`: serve the Secrets Store sync controller's requests, and only
    /// those, instead of the CSI driver's.
    pub sync_controller: bool,
}

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct ProviderService {
    mounter: Mounter,
    slots: Arc<Semaphore>,
    admission: Admission,
    mount_timeout: Duration,
    metrics: Metrics,
    plans: Arc<PlanCache>,
}

impl ProviderService {
    /// A service admitting Mounts as `admission` says, each bounded by `mount_timeout`, taking
    /// the validated `objects` of specs it has parsed before from `plans`.
    pub fn new(
        mounter: Mounter,
        admission: Admission,
        mount_timeout: Duration,
        metrics: Metrics,
        plans: Arc<PlanCache>,
    ) -> Self {
        Self {
            mounter,
            slots: Arc::new(Semaphore::new(admission.max_in_flight)),
            admission,
            mount_timeout,
            metrics,
            plans,
        }
    }

    /// Runs the Mount of parsed `params`: admission, the memory budget, the deadline.
    async fn mount_inner(
        &self,
        request: &MountRequest,
        params: &MountParams,
    ) -> Result<Mounted, MountError> {
        params.caller.admit(self.admission.sync_controller)?;
        let _permit = self
            .slots
            .try_acquire()
            .map_err(|_| MountError::Busy(self.admission.max_in_flight))?;
        let budget = self
            .admission
            .budget
            .mount(self.admission.max_response_bytes);
        // The request itself, held until the Mount ends.
        let _request = budget.hold(request.attributes.len(), "the request")?;
        tokio::time::timeout(self.mount_timeout, self.mounter.mount(params, &budget))
            .await
            .map_err(|_| MountError::Deadline(self.mount_timeout))?
    }
}

#[tonic::async_trait]
impl CsiDriverProvider for ProviderService {
    async fn version(
        &self,
        _request: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        Ok(Response::new(VersionResponse {
            version: "v1alpha1".into(),
            runtime_name: RUNTIME_NAME.into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
        }))
    }

    async fn mount(
        &self,
        request: Request<MountRequest>,
    ) -> Result<Response<MountResponse>, Status> {
        let in_flight = self.metrics.in_flight();
        let started = Instant::now();
        let outbox = request
            .extensions()
            .get::<RepairedConnectInfo<UdsConnectInfo>>()
            .map(|info| info.outbox.clone());
        let request = request.into_inner();
        // Parsed before the span opens, so that the span is made once with all it names: the
        // JSON log format re-serializes a span's fields on every later `record`. The pod
        // information is best-effort when the attributes did not parse.
        let parsed = params::parse_cached(&request, &self.plans)
            .map_err(|e| (e, PodInfo::lenient(&request.attributes)));
        let span = match &parsed {
            Ok(params) => mount_span(
                &params.pod,
                Some(params.objects.len()),
                Some(params.caller.as_str()),
            ),
            Err((_, pod)) => mount_span(pod, None, None),
        };
        let response = self
            .serve_mount(&request, parsed, outbox, started)
            .instrument(span)
            .await;
        drop(in_flight);
        response
    }
}

/// The span of one Mount, naming its pod, namespace, SecretProviderClass, object count and
/// caller (as far as they are known), so that every line logged for the Mount carries them.
/// Tokens and other attributes never go there.
fn mount_span(
    pod: &PodInfo,
    objects: Option<usize>,
    caller: Option<&'static str>,
) -> tracing::Span {
    tracing::info_span!(
        "mount",
        request_id = %keywarden_runtime::telemetry::request_id(),
        pod = pod.name.as_deref(),
        namespace = pod.namespace.as_deref(),
        spc = pod.spc.as_deref(),
        objects,
        caller,
    )
}

impl ProviderService {
    /// One Mount, inside its span: the work, the log line and the metrics.
    async fn serve_mount(
        &self,
        request: &MountRequest,
        parsed: Result<MountParams, (MountError, PodInfo)>,
        outbox: Option<Arc<keywarden_runtime::Outbox>>,
        started: Instant,
    ) -> Result<Response<MountResponse>, Status> {
        let (result, pod) = match parsed {
            Ok(params) => {
                let result = self.mount_inner(request, &params).await;
                (result.map(|m| (m, params.objects.len())), params.pod)
            }
            Err((e, pod)) => (Err(e), pod),
        };
        let elapsed = started.elapsed();
        match result {
            Ok((mounted, objects)) => {
                // The charges stay taken until the response's bytes have left the process.
                if let Some(outbox) = outbox {
                    outbox.hold(mounted.encoded_len, mounted.held);
                }
                let response = mounted.response;
                self.metrics
                    .mount_finished("ok", tonic::Code::Ok, elapsed.as_secs_f64());
                tracing::info!(
                    pod = pod.name.as_deref().unwrap_or_default(),
                    namespace = pod.namespace.as_deref().unwrap_or_default(),
                    spc = pod.spc.as_deref().unwrap_or_default(),
                    objects,
                    files = response.files.len(),
                    duration_ms = elapsed.as_millis() as u64,
                    outcome = "ok",
                    "mount"
                );
                Ok(Response::new(response))
            }
            Err(err) => {
                let code = err.grpc_code();
                self.metrics
                    .mount_finished(err.label(), code, elapsed.as_secs_f64());
                tracing::warn!(
                    pod = pod.name.as_deref().unwrap_or_default(),
                    namespace = pod.namespace.as_deref().unwrap_or_default(),
                    spc = pod.spc.as_deref().unwrap_or_default(),
                    duration_ms = elapsed.as_millis() as u64,
                    outcome = err.label(),
                    code = ?code,
                    error = %err,
                    "mount"
                );
                Err(err.into())
            }
        }
    }
}
