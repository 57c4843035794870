//! AWS clients, built once from the SDK's standard configuration and handed to the Mount path.
//!
//! The base `SdkConfig` (credentials chain, endpoint overrides such as `AWS_ENDPOINT_URL`, retry
//! and timeout settings) is loaded once at start. Clients differ only by region, so one client
//! per region is built on first use and reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::error::MountError;
use aws_credential_types::Credentials;

/// The AWS clients of one provider process.
#[derive(Debug)]
pub struct AwsClients {
    base: SdkConfig,
    default_region: Option<String>,
    force_path_style: bool,
    regional: Mutex<HashMap<ClientKey, RegionalClients>>,
    sts: Mutex<HashMap<String, aws_sdk_sts::Client>>,
}

/// Client sets kept at most; pod sessions beyond this are rebuilt on their next Mount.
const MAX_CLIENT_SETS: usize = 1024;

/// Region and access key of a client set (`None`: the provider's own credentials).
type ClientKey = (String, Option<String>);

/// The clients of one region.
#[derive(Debug, Clone)]
pub struct RegionalClients {
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// KMS.
    pub kms: aws_sdk_kms::Client,
}

impl AwsClients {
    /// Uses an already loaded configuration (tests inject theirs here).
    pub fn new(base: SdkConfig, default_region: Option<String>, force_path_style: bool) -> Self {
        let default_region = default_region.or_else(|| base.region().map(|r| r.to_string()));
        Self {
            base,
            default_region,
            force_path_style,
            regional: Mutex::new(HashMap::new()),
            sts: Mutex::new(HashMap::new()),
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

    /// The S3 and KMS clients for `region`, signing with `credentials`, or with the provider's
    /// own chain when `None`. Built once per (region, access key) and reused: a pod's session
    /// lasts an hour while its volumes re-Mount every minute.
    pub fn clients(&self, region: &str, credentials: Option<&Credentials>) -> RegionalClients {
        let key = (
            region.to_owned(),
            credentials.map(|c| c.access_key_id().to_owned()),
        );
        let mut clients = self
            .regional
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !clients.contains_key(&key) && clients.len() >= MAX_CLIENT_SETS {
            // Pod sessions rotate hourly; forget the old ones rather than grow without bound.
            clients.retain(|(_, access_key), _| access_key.is_none());
        }
        clients
            .entry(key)
            .or_insert_with(|| self.build(region, credentials.cloned()))
            .clone()
    }

    /// An STS client for `region` (web identity calls are unsigned).
    pub fn sts(&self, region: &str) -> aws_sdk_sts::Client {
        let mut clients = self
            .sts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_sts::config::Builder::from(&self.base)
                    .region(Region::new(region.to_owned()))
                    .build();
                aws_sdk_sts::Client::from_conf(config)
            })
            .clone()
    }

    fn build(&self, region: &str, credentials: Option<Credentials>) -> RegionalClients {
        let region = Region::new(region.to_owned());
        let mut s3 = aws_sdk_s3::config::Builder::from(&self.base)
            .region(region.clone())
            .force_path_style(self.force_path_style);
        let mut kms = aws_sdk_kms::config::Builder::from(&self.base).region(region);
        if let Some(credentials) = credentials {
            s3 = s3.credentials_provider(credentials.clone());
            kms = kms.credentials_provider(credentials);
        }
        RegionalClients {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            kms: aws_sdk_kms::Client::from_conf(kms.build()),
        }
    }
}

/// Shared handle.
pub type SharedAws = Arc<AwsClients>;
