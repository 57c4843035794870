//! The bounds on what a tenant can make the provider parse, compile or allocate.
//!
//! Everything in a Mount's `attributes` is chosen by whoever may create a SecretProviderClass and
//! a pod, so each of these is checked before the input is parsed any further. The values are
//! documented in the README's parameter section and in `docs/security-model.md`; every error
//! that enforces one names it by the name in the first column of that table.

/// Largest `attributes` JSON accepted (SecretProviderClass parameters plus pod information and
/// tokens). Checked before the JSON is parsed.
pub const MAX_ATTRIBUTES_BYTES: usize = 128 * 1024;

/// Largest Mount request the gRPC server decodes at all (tonic refuses larger ones with
/// `OUT_OF_RANGE` before they reach the provider). Room for [`MAX_ATTRIBUTES_BYTES`] and the
/// request's other fields, so that an oversized `attributes` still gets the provider's own
/// message naming its limit.
pub const MAX_REQUEST_BYTES: usize = 4 * MAX_ATTRIBUTES_BYTES;

/// Largest `objects` parameter accepted. Checked before the YAML is parsed.
pub const MAX_OBJECTS_BYTES: usize = 64 * 1024;

/// Most objects one SecretProviderClass may list.
pub const MAX_OBJECTS: usize = 256;

/// Default of `--max-prefix-objects`: the objects all prefix entries of one Mount may list
/// together, as many as one SecretProviderClass may name ([`MAX_OBJECTS`]).
pub const DEFAULT_MAX_PREFIX_OBJECTS: usize = MAX_OBJECTS;

/// Most directory markers (keys ending in `/`, skipped) one prefix may list. They do not count
/// against `--max-prefix-objects`, so without this bound a prefix of markers alone would make
/// every Mount page through them.
pub const MAX_PREFIX_MARKERS: usize = 1000;

/// Most `jmesPath` entries over all objects of one SecretProviderClass.
pub const MAX_JMESPATH_ENTRIES: usize = 256;

/// Longest `jmesPath` expression, in bytes. Checked before it is compiled.
pub const MAX_JMESPATH_BYTES: usize = 256;

/// Most operators (`.`, `|`, `[`, `(`, `{`, `!`, `&`, `*`, `?`, comparisons) in one `jmesPath`
/// expression, counted outside quoted names and literals before it is compiled. Each can add a
/// level of recursion to the compiler and the evaluator, so this bounds their stack use.
pub const MAX_JMESPATH_OPERATORS: usize = 32;

/// Deepest nesting of brackets and parentheses in one `jmesPath` expression.
pub const MAX_JMESPATH_NESTING: usize = 8;

/// Deepest nesting of lists and maps in the `objects` YAML (a valid one needs 4).
pub const MAX_YAML_DEPTH: usize = 8;

/// Most YAML nodes (scalars, lists, maps) in the `objects` parameter.
pub const MAX_YAML_NODES: usize = 16 * 1024;

/// Largest manifest `check --spc` reads: at most this many bytes plus one are read, so a larger
/// file (or a device such as `/dev/zero`) is refused without being read whole. A rendered chart
/// of many documents fits many times over.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Deepest nesting of lists and maps in a manifest `check` reads (a Deployment needs about 12).
pub const MAX_MANIFEST_DEPTH: usize = 64;

/// Most YAML nodes over all documents of a manifest `check` reads; with anchors and aliases
/// refused, the values built stay within a small multiple of the file's size.
pub const MAX_MANIFEST_NODES: usize = 256 * 1024;

/// Default of `--max-object-bytes`: the largest object a Mount reads, and so the largest input
/// `seal` accepts (a larger sealed object could never be mounted).
pub const DEFAULT_MAX_OBJECT_BYTES: usize = 1024 * 1024;

/// Default of `--max-response-bytes` (the driver's default gRPC receive limit).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Quoting bounded prefixes of the input in messages is shared with the KMS plugin.
pub use keywarden_runtime::catalogue::{QUOTE_BYTES, clip, prefix, quote};

/// Largest Secrets Manager value accepted: the service stores at most 64 KiB, so a larger answer
/// is not from Secrets Manager.
pub const MAX_SECRET_VALUE_BYTES: usize = 64 * 1024;

/// Largest Parameter Store value accepted: an advanced parameter holds at most 8 KiB.
pub const MAX_PARAMETER_VALUE_BYTES: usize = 8 * 1024;

/// Most names in one `GetParameters` call (the service's limit).
pub const MAX_PARAMETERS_PER_CALL: usize = 10;
