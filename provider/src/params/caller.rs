//! Who sent a Mount: the Secrets Store CSI driver publishing a pod's volume, or the Secrets
//! Store sync controller creating a Kubernetes Secret without any pod (docs/reference.md §2.10).
//!
//! The two are told apart by what only the controller sends, and a provider serves one of them
//! (`--sync-controller`), so a request of the other kind is refused before anything else
//! happens. A driver request cannot pass for the controller's: its `target_path` is the
//! kubelet's volume path, which neither a pod nor a SecretProviderClass chooses.

use std::collections::HashMap;

use crate::error::MountError;

/// The `target_path` the sync controller sends; it never creates it.
pub const SYNC_TARGET_PATH: &str = "/mnt/secrets-store";

/// Keys the driver always sends and the controller never does.
const DRIVER_ONLY_KEYS: [&str; 2] = ["secretProviderClass", "csi.storage.k8s.io/ephemeral"];

/// Who sent a Mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Caller {
    /// The CSI driver, for a pod's volume.
    #[default]
    Driver,
    /// The Secrets Store sync controller, for a SecretSync (no pod, no volume).
    SyncController,
}

impl Caller {
    /// The sync controller's request is the one whose `target_path` is exactly
    /// [`SYNC_TARGET_PATH`] and whose attributes carry neither `secretProviderClass` nor
    /// `csi.storage.k8s.io/ephemeral` (present, even empty, means the driver). Anything else is
    /// the driver's.
    pub fn of(target_path: &str, attributes: &HashMap<String, String>) -> Self {
        let driver_keys = DRIVER_ONLY_KEYS.iter().any(|k| attributes.contains_key(*k));
        if target_path == SYNC_TARGET_PATH && !driver_keys {
            Self::SyncController
        } else {
            Self::Driver
        }
    }

    /// A name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Driver => "driver",
            Self::SyncController => "sync-controller",
        }
    }

    /// Refuses a request from the caller this provider does not serve (`--sync-controller`
    /// decides which one it serves).
    pub fn admit(self, serves_sync_controller: bool) -> Result<(), MountError> {
        match (self, serves_sync_controller) {
            (Self::Driver, false) | (Self::SyncController, true) => Ok(()),
            (Self::SyncController, false) => Err(crate::catalogue::controller_on_driver_socket(
                SYNC_TARGET_PATH,
            )),
            (Self::Driver, true) => Err(crate::catalogue::driver_on_sync_socket(SYNC_TARGET_PATH)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keywarden_proto::csi::MountRequest;
    use tonic::Code;

    fn attrs(keys: &[&str]) -> HashMap<String, String> {
        keys.iter()
            .map(|k| ((*k).to_owned(), String::new()))
            .collect()
    }

    #[test]
    fn only_the_controllers_shape_is_the_controller() {
        let controller = attrs(&["objects", "csi.storage.k8s.io/pod.namespace"]);
        assert_eq!(
            Caller::of(SYNC_TARGET_PATH, &controller),
            Caller::SyncController
        );
        // Any driver-only key, even empty, or any other target path: the driver.
        for key in DRIVER_ONLY_KEYS {
            let mut with = controller.clone();
            with.insert(key.to_owned(), String::new());
            assert_eq!(Caller::of(SYNC_TARGET_PATH, &with), Caller::Driver, "{key}");
        }
        for target in [
            "/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/v/mount",
            "/mnt/secrets-store/",
            "/mnt/secrets-store/x",
            "mnt/secrets-store",
            "",
        ] {
            assert_eq!(Caller::of(target, &controller), Caller::Driver, "{target}");
        }
    }

    #[test]
    fn the_sync_controllers_request_names_no_pod() {
        let mut map: HashMap<&str, &str> = HashMap::from([
            ("objects", "- objectName: s3://bucket/key\n"),
            (
                "csi.storage.k8s.io/pod.name",
                "secrets-store-sync-controller-manager-7d9f-abcde",
            ),
            ("csi.storage.k8s.io/pod.uid", "0f2b"),
            ("csi.storage.k8s.io/pod.namespace", "team-a"),
            ("csi.storage.k8s.io/serviceAccount.name", "app"),
        ]);
        let controller = MountRequest {
            attributes: serde_json::to_string(&map).expect("json"),
            secrets: "{}".into(),
            target_path: SYNC_TARGET_PATH.into(),
            permission: "420".into(),
            current_object_version: vec![],
        };
        let params = super::super::parse(&controller).expect("valid");
        assert_eq!(params.caller, Caller::SyncController);
        assert_eq!(
            params.pod.name, None,
            "the controller's own pod is not the mount's"
        );
        assert_eq!(params.pod.uid, None);
        assert_eq!(params.pod.namespace.as_deref(), Some("team-a"));
        assert_eq!(params.pod.service_account.as_deref(), Some("app"));

        map.insert("secretProviderClass", "app-secrets");
        let driver = MountRequest {
            attributes: serde_json::to_string(&map).expect("json"),
            ..controller
        };
        let params = super::super::parse(&driver).expect("valid");
        assert_eq!(params.caller, Caller::Driver);
        assert!(params.pod.name.is_some());
    }

    #[test]
    fn each_provider_serves_one_caller() {
        Caller::Driver.admit(false).expect("driver on the node");
        Caller::SyncController
            .admit(true)
            .expect("controller on its sidecar");
        let err = Caller::SyncController.admit(false).expect_err("refused");
        assert_eq!(err.grpc_code(), Code::FailedPrecondition);
        assert!(err.to_string().contains("--sync-controller"), "{err}");
        let err = Caller::Driver.admit(true).expect_err("refused");
        assert_eq!(err.grpc_code(), Code::FailedPrecondition);
        assert!(err.to_string().contains("serves only"), "{err}");
    }
}
