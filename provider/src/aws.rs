//! AWS clients, built once from the SDK's standard configuration and handed to the Mount path.
//!
//! The base `SdkConfig` (credentials chain, endpoint overrides such as `AWS_ENDPOINT_URL`, retry
//! and timeout settings) is loaded once at start. Clients differ only by region, so one client
//! per region is built on first use and reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::error::MountError;
use crate::identity::Identity;

/// The AWS clients of one provider process.
#[derive(Debug)]
pub struct AwsClients {
    base: SdkConfig,
    default_region: Option<String>,
    force_path_style: bool,
    s3: Mutex<HashMap<String, aws_sdk_s3::Client>>,
}

impl AwsClients {
    /// Uses an already loaded configuration (tests inject theirs here).
    pub fn new(base: SdkConfig, default_region: Option<String>, force_path_style: bool) -> Self {
        let default_region = default_region.or_else(|| base.region().map(|r| r.to_string()));
        Self {
            base,
            default_region,
            force_path_style,
            s3: Mutex::new(HashMap::new()),
        }
    }

    /// Loads the SDK's standard configuration from the environment.
    pub async fn from_env(default_region: Option<String>, force_path_style: bool) -> Self {
        let base = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::new(base, default_region, force_path_style)
    }

    /// The region a Mount uses: the SPC's, else `--region`, else the SDK chain's.
    pub fn region<'a>(&'a self, requested: Option<&'a str>) -> Result<&'a str, MountError> {
        requested.or(self.default_region.as_deref()).ok_or_else(|| {
            MountError::Precondition(
                "no AWS region: set region in the SecretProviderClass or start the provider with --region".into(),
            )
        })
    }

    /// An S3 client for `region` acting as `identity`.
    pub fn s3(&self, region: &str, identity: &Identity) -> aws_sdk_s3::Client {
        match identity {
            Identity::Node => {
                let mut clients = self
                    .s3
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                clients
                    .entry(region.to_owned())
                    .or_insert_with(|| {
                        let config = aws_sdk_s3::config::Builder::from(&self.base)
                            .region(Region::new(region.to_owned()))
                            .force_path_style(self.force_path_style)
                            .build();
                        aws_sdk_s3::Client::from_conf(config)
                    })
                    .clone()
            }
        }
    }
}

/// Shared handle.
pub type SharedAws = Arc<AwsClients>;
