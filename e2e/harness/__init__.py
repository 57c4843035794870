"""Building blocks of the end-to-end suite and of `make demo`.

Each module owns one concept: the local AWS endpoint (aws) and its KMS key
states (key_states); a server binary under test (process) and the two there
are (provider, kms_plugin); the driver-like gRPC client (driver) and the
driver's file writer (writer); target mounts (mounts); protocol stubs
(protoc, protos, kms_protos); kube-apiserver's KMS side (apiserver) over a
real etcd (etcd); a fault-injecting proxy in front of the AWS endpoint
(fault_proxy); the fixture building blocks (fixtures, kms_fixtures,
fault_fixtures); scenario assertions (checks), CLI runs (commands),
SecretProviderClass parameters (spc), the independent sealer (sealer) and
loopback ports (net).
Tests and the demo both import from here; nothing is copied.
"""
