//! The deployment examples under `deploy/` are checked against the real argument parser and
//! against the rules kube-apiserver applies to an EncryptionConfiguration.

use std::path::Path;

use clap::Parser;
use keywarden_kms::cli::{Args, HttpAddr};
use keywarden_kms::config::Config;
use keywarden_kms::envelope::is_fqdn;
use serde_yaml::Value;

fn load(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("example exists");
    serde_yaml::from_str(&text).expect("valid YAML")
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut v = value;
    for key in path {
        v = &v[*key];
    }
    v.as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string"))
}

fn plugin_config() -> (Config, Value) {
    let pod = load("static-pod.yaml");
    let container = &pod["spec"]["containers"][0];
    let argv: Vec<String> = container["command"]
        .as_sequence()
        .expect("command list")
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect();
    assert!(argv[0].ends_with("keywarden-kms"), "{argv:?}");
    let args = Args::try_parse_from(&argv).expect("the static pod's flags parse");
    let config = Config::try_from(&args).expect("the static pod's flags validate");
    (config, pod)
}

#[test]
fn static_pod_runs_on_the_host_network_with_the_socket_on_a_host_path() {
    let (config, pod) = plugin_config();
    assert_eq!(str_at(&pod, &["apiVersion"]), "v1");
    assert_eq!(str_at(&pod, &["kind"]), "Pod");
    assert_eq!(pod["spec"]["hostNetwork"].as_bool(), Some(true));

    let mount = &pod["spec"]["containers"][0]["volumeMounts"][0];
    let mount_path = str_at(mount, &["mountPath"]);
    assert!(
        config.socket.starts_with(mount_path),
        "socket {} outside the mounted {mount_path}",
        config.socket.display()
    );
    let volume = pod["spec"]["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume is declared");
    assert!(
        volume["hostPath"]["path"].as_str().is_some(),
        "hostPath volume"
    );

    let HttpAddr::On(addr) = config.http_addr else {
        panic!("probes need the HTTP server")
    };
    assert!(
        addr.ip().is_loopback(),
        "hostNetwork: keep the admin port on loopback"
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        let get = &pod["spec"]["containers"][0][probe]["httpGet"];
        assert_eq!(
            get["port"].as_u64(),
            Some(u64::from(addr.port())),
            "{probe}"
        );
        assert_eq!(get["host"].as_str(), Some("127.0.0.1"), "{probe}");
    }
    assert_eq!(
        str_at(
            &pod["spec"]["containers"][0]["livenessProbe"],
            &["httpGet", "path"]
        ),
        "/livez",
        "liveness must not restart the plugin for a KMS outage"
    );
}

/// kubelet creates a `DirectoryOrCreate` hostPath as root, mode 0755; only its owner (root)
/// can create the socket in it. So the container must run as uid 0, and everything else that
/// would make root powerful must be off.
#[test]
fn static_pod_user_can_create_the_socket_in_the_directory_kubelet_creates() {
    let (config, pod) = plugin_config();
    let container = &pod["spec"]["containers"][0];
    let security = &container["securityContext"];
    let volume = &pod["spec"]["volumes"][0];
    assert_eq!(str_at(volume, &["hostPath", "type"]), "DirectoryOrCreate");
    let dir = str_at(volume, &["hostPath", "path"]);
    assert_eq!(
        config.socket.parent().and_then(|p| p.to_str()),
        Some(dir),
        "the socket sits directly in the hostPath directory kubelet creates"
    );
    assert_eq!(
        security["runAsUser"].as_u64(),
        Some(0),
        "the owner of the root-owned directory"
    );
    assert_eq!(security["runAsNonRoot"].as_bool(), Some(false));
    assert!(
        pod["spec"]["securityContext"]["runAsUser"].is_null(),
        "no pod-level user overrides it"
    );
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["privileged"].as_bool(), Some(false));
    assert_eq!(
        security["capabilities"]["drop"][0].as_str(),
        Some("ALL"),
        "root without capabilities"
    );
    assert!(security["capabilities"]["add"].is_null());
    assert_eq!(
        str_at(security, &["seccompProfile", "type"]),
        "RuntimeDefault"
    );
}

#[test]
fn encryption_configuration_points_at_the_plugin_socket() {
    let (config, _) = plugin_config();
    let enc = load("encryption-configuration.yaml");
    assert_eq!(str_at(&enc, &["apiVersion"]), "apiserver.config.k8s.io/v1");
    assert_eq!(str_at(&enc, &["kind"]), "EncryptionConfiguration");
    let resources = enc["resources"].as_sequence().expect("resources");
    let secrets = resources
        .iter()
        .find(|r| {
            r["resources"]
                .as_sequence()
                .is_some_and(|rs| rs.iter().any(|x| x == "secrets"))
        })
        .expect("secrets are configured");
    let providers = secrets["providers"].as_sequence().expect("providers");
    let kms = &providers[0]["kms"];
    assert_eq!(
        str_at(kms, &["apiVersion"]),
        "v2",
        "the first provider writes"
    );
    let name = str_at(kms, &["name"]);
    assert!(
        !name.is_empty() && !name.contains(':'),
        "v2 names must not contain ':'"
    );
    assert!(
        kms.get("cachesize").is_none(),
        "cachesize is not supported in v2"
    );
    let endpoint = str_at(kms, &["endpoint"]);
    assert_eq!(
        endpoint.strip_prefix("unix://"),
        config.socket.to_str(),
        "endpoint is the plugin's --socket"
    );
    let timeout = humantime::parse_duration(str_at(kms, &["timeout"])).expect("timeout");
    assert!(!timeout.is_zero());
    assert!(
        providers
            .last()
            .is_some_and(|p| p.get("identity").is_some()),
        "identity last keeps unencrypted Secrets readable"
    );
    // The recorded annotations the plugin returns are valid for this apiserver.
    assert!(is_fqdn(keywarden_kms::envelope::ANNOTATION_CONTEXT));
    assert!(is_fqdn(keywarden_kms::envelope::ANNOTATION_VERSION));
}
