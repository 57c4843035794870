//! The validated configuration `serve` runs with: everything the command line cannot check by
//! itself is checked here, before any socket is bound.

use std::path::PathBuf;

use keywarden_runtime::cli::ConfigError;

use crate::catalogue;
use std::time::Duration;

use crate::cli::{HttpAddr, ServeArgs, WriteMode};
use crate::identity::IdentityPolicy;
use crate::mount::Limits;

/// Configuration of a running provider.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Socket path.
    pub socket: PathBuf,
    /// Socket permission bits.
    pub socket_mode: u32,
    /// Admin HTTP address.
    pub http_addr: HttpAddr,
    /// Default region.
    pub region: Option<String>,
    /// Path-style S3 addressing.
    pub s3_force_path_style: bool,
    /// IRSA token audience.
    pub token_audience: String,
    /// Kubernetes API override.
    pub kubernetes_api: Option<String>,
    /// Pod Identity agent endpoints.
    pub pod_identity_endpoints: Vec<String>,
    /// Pod Identity agent timeout.
    pub pod_identity_timeout: Duration,
    /// Identity rules.
    pub identity: IdentityPolicy,
    /// Plaintext cache lifetime.
    pub cache_ttl: Duration,
    /// Plaintext cache byte bound.
    pub cache_max_bytes: usize,
    /// How long an S3 proof of a cached entry stands for its identity.
    pub revalidate_window: Duration,
    /// Coalescing of identical fetches (off only with the benchmark's `--no-coalesce`).
    pub coalesce: bool,
    /// Mount deadline.
    pub mount_timeout: Duration,
    /// Size limits.
    pub limits: Limits,
    /// Who writes the files.
    pub write_mode: WriteMode,
    /// Provider write mode may write outside tmpfs.
    pub allow_non_tmpfs: bool,
    /// Concurrent Mounts.
    pub max_concurrent_mounts: usize,
    /// The node-wide budget of secret bytes held by in-flight Mounts.
    pub max_inflight_bytes: usize,
    /// Drain period after SIGTERM.
    pub shutdown_grace: Duration,
    /// Serve the sync controller instead of the CSI driver.
    pub sync_controller: bool,
    /// How long to wait for a live predecessor on the socket.
    pub socket_wait: Duration,
}

impl TryFrom<&ServeArgs> for ServeConfig {
    type Error = ConfigError;

    fn try_from(args: &ServeArgs) -> Result<Self, Self::Error> {
        if args.allow_non_tmpfs && args.write_mode != WriteMode::Provider {
            return Err(catalogue::non_tmpfs_needs_provider_mode().into());
        }
        if args.sync_controller && args.write_mode == WriteMode::Provider {
            return Err(catalogue::sync_needs_driver_mode().into());
        }
        if args.mount_timeout.is_zero() {
            return Err(catalogue::zero_mount_timeout().into());
        }
        if args.max_object_bytes == 0 || args.max_response_bytes == 0 {
            return Err(catalogue::zero_size_limit().into());
        }
        if args.max_inflight_bytes < args.max_response_bytes {
            return Err(catalogue::budget_below_response(
                args.max_inflight_bytes,
                args.max_response_bytes,
            )
            .into());
        }
        if args.max_concurrent_mounts == 0 {
            return Err(catalogue::zero_concurrent_mounts().into());
        }
        for url in args
            .pod_identity_endpoints
            .iter()
            .chain(&args.kubernetes_api)
        {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(catalogue::not_http_url(url).into());
            }
        }
        if args.token_audience.is_empty() {
            return Err(catalogue::empty_token_audience().into());
        }
        let namespaces: std::collections::BTreeSet<String> = args
            .node_identity_namespaces
            .iter()
            .map(|ns| ns.trim().to_owned())
            .filter(|ns| !ns.is_empty())
            .collect();
        if !namespaces.is_empty() && !args.allow_node_identity {
            return Err(catalogue::namespaces_need_node_identity().into());
        }
        Ok(Self {
            socket: args.serve.socket.clone(),
            socket_mode: args.socket_mode,
            http_addr: args.serve.http_addr,
            region: args.serve.region(),
            s3_force_path_style: args.s3_force_path_style,
            token_audience: args.token_audience.clone(),
            kubernetes_api: args.kubernetes_api.clone().filter(|u| !u.is_empty()),
            pod_identity_endpoints: args.pod_identity_endpoints.clone(),
            pod_identity_timeout: args.pod_identity_timeout,
            identity: IdentityPolicy {
                allow_node: args.allow_node_identity,
                node_namespaces: namespaces,
            },
            cache_ttl: args.cache_ttl,
            cache_max_bytes: args.cache_max_bytes,
            revalidate_window: args.revalidate_window,
            coalesce: !args.no_coalesce,
            mount_timeout: args.mount_timeout,
            limits: Limits {
                max_object_bytes: args.max_object_bytes,
                max_response_bytes: args.max_response_bytes,
                max_prefix_objects: args.max_prefix_objects,
            },
            write_mode: args.write_mode,
            allow_non_tmpfs: args.allow_non_tmpfs,
            max_concurrent_mounts: args.max_concurrent_mounts,
            max_inflight_bytes: args.max_inflight_bytes,
            shutdown_grace: args.serve.shutdown_grace,
            sync_controller: args.sync_controller,
            socket_wait: args.socket_wait,
        })
    }
}
