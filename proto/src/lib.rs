//! Generated gRPC code for the protocols Keywarden serves.
//!
//! The `.proto` files under `protos/` are vendored from their upstream projects (each file's
//! header names its origin). The Rust code in `src/generated/` is generated from them without a system
//! `protoc` and checked in, so that it shows up in review; `tests/bootstrap.rs` fails when the
//! checked-in code has drifted from the protos, and regenerates it when
//! `KEYWARDEN_REGENERATE_PROTOS=1` is set.

mod generated {
    #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
    #[rustfmt::skip]
    #[path = "v1alpha1.rs"]
    pub mod v1alpha1;
    #[rustfmt::skip]
    #[path = "v2.rs"]
    pub mod kms_v2;
    #[rustfmt::skip]
    #[path = "v1beta1.rs"]
    pub mod kms_v1beta1;
}

/// Secrets Store CSI driver ↔ provider API (`v1alpha1.CSIDriverProvider`).
pub mod csi {
    pub use crate::generated::v1alpha1::*;
}

/// Kubernetes KMS plugin API, version 2 (`v2.KeyManagementService`).
pub mod kms_v2 {
    pub use crate::generated::kms_v2::*;
}

/// Kubernetes KMS plugin API, version 1beta1 (`v1beta1.KeyManagementService`).
pub mod kms_v1beta1 {
    pub use crate::generated::kms_v1beta1::*;
}
