//! Messages about one entry of the `objects` parameter: its YAML, its keys and their values.

use super::{InvalidArgument, Part};

keywarden_runtime::catalogue! {
    "Object specs",
    "One entry of `objects` breaks a rule; the message names it as `objects[N] (NAME)` \
     (`inline` for inline ciphertext) and, for a field, `jmesPath[J]`.";

    /// Write each object out in full: anchors, aliases and tags are refused because they let a
    /// few bytes expand into megabytes. Shown after `parameter objects is not a valid list of
    /// object specs: `.
    Part fn yaml_refused(what: &str, line: usize, column: usize) = "{what} (line {line}, column {column})";
    /// WHAT of the part above: a YAML anchor (`&`), alias (`*`) or tag (`!`).
    Part fn yaml_anchor() = "uses a YAML anchor (&), which is not allowed";
    /// See the entry above.
    Part fn yaml_alias() = "uses a YAML alias (*), which is not allowed";
    /// See the entry above.
    Part fn yaml_tag() = "uses a YAML tag (!), which is not allowed";
    /// `objects` holds `---` and a second document: keep one list.
    Part fn yaml_documents() = "holds more than one YAML document";
    /// An object spec names the same key twice: keep one.
    Part fn yaml_repeated_key(key_q: &str) = "repeats the key {key_q}";
    /// `objects` nests deeper than an object spec needs (4 levels; `MAX_YAML_DEPTH`), or a
    /// manifest given to `check` deeper than any Kubernetes object (`MAX_MANIFEST_DEPTH`): a
    /// mistake or an attack.
    Part fn yaml_too_deep(limit: usize, name: &str) = "nests lists and maps deeper than {limit} ({name})";
    /// `objects` has more nodes than any real list of object specs (`MAX_YAML_NODES`), or a
    /// manifest more than `check` reads (`MAX_MANIFEST_NODES`): check one manifest at a time.
    Part fn yaml_too_many_nodes(limit: usize, name: &str) = "has more than {limit} YAML nodes ({name})";
    /// A map key that is a list or a map (`? [a]: b`): object spec keys are plain names.
    Part fn yaml_complex_key() = "uses a list or map as a map key";
    /// A map key with no text: check the indentation of the spec.
    Part fn yaml_empty_key() = "uses an empty map key";
    /// The YAML parser's own complaint (a syntax error), clipped; fix the YAML at that line.
    Part fn yaml_syntax(reason: String, line: usize, column: usize) =
        "{reason} at line {line}, column {column}";
    /// `objects` has no list in it.
    Part fn yaml_empty() = "is empty";
    /// The YAML ends in the middle of a list or map.
    Part fn yaml_malformed() = "is not well formed";
    /// Two values where one was expected.
    Part fn yaml_two_values() = "holds more than one value";
    /// An object reads from S3 or is inline ciphertext, not both.
    InvalidArgument fn name_and_ciphertext(label: &str) =
        "{label}: give either objectName or ciphertext, not both";
    /// The entry has neither `objectName` nor `ciphertext`.
    InvalidArgument fn name_missing(label: &str) =
        "{label}: objectName is required (or ciphertext for inline objects)";
    /// The object's `objectName` breaks one of the rules below.
    InvalidArgument fn bad_object_name(label: &str, reason: String) = "{label}: {reason}";
    /// Only `s3://bucket/key` URLs are accepted.
    Part fn not_s3_url(name_q: &str) = "objectName {name_q} must look like s3://bucket/key";
    /// The URL has a bucket but no `/key`.
    Part fn no_key(name_q: &str) = "objectName {name_q} has no key after the bucket";
    /// Bucket names are 3–63 lowercase letters, digits, `.` and `-`.
    Part fn bad_bucket(name_q: &str, bucket_q: &str) =
        "objectName {name_q} has an invalid bucket name {bucket_q}";
    /// S3 keys are 1 to 1024 bytes.
    Part fn bad_key_length(name_q: &str) = "objectName {name_q} must have a key of 1 to 1024 bytes";
    /// Remove `objectVersion` from an inline object.
    InvalidArgument fn version_not_s3(label: &str) =
        "{label}: objectVersion applies only to S3 objects";
    /// Inline objects are ciphertext: set `objectType: kms` or `sealed`.
    InvalidArgument fn ciphertext_needs_type(label: &str) =
        "{label}: ciphertext needs objectType kms or sealed";
    /// Paste the `CiphertextBlob` as base64 text (`--output text` of `aws kms encrypt`).
    InvalidArgument fn ciphertext_empty(label: &str) = "{label}: ciphertext is empty";
    /// Inline objects have no S3 key to name the file after.
    InvalidArgument fn alias_required(label: &str) = "{label}: objectAlias is required with ciphertext";
    /// The `objectAlias` (of the object, or of `jmesPath[J]`) breaks a path rule (see "File
    /// paths").
    InvalidArgument fn bad_alias(owner: &str, reason: String) = "{owner}: objectAlias: {reason}";
    /// Quote it and use octal digits: `filePermission: "0440"`.
    InvalidArgument fn bad_file_permission(owner: &str, reason: String) = "{owner}: filePermission: {reason}";
    /// REASON of the entry above.
    Part fn bad_mode(mode_q: &str) = "{mode_q} is not an octal mode between 0000 and 0777";
    /// Names are exact and lower case: `base64`, not `Base64`; `utf-8` (the default) writes
    /// the bytes as they are.
    InvalidArgument fn bad_encoding_name(owner: &str, name_q: &str) =
        "{owner}: objectEncoding {name_q} is not one of utf-8, base64, base64url, hex";
    /// Sealed objects carry their context in their header; S3 objects need none.
    InvalidArgument fn context_not_kms(label: &str) =
        "{label}: encryptionContext applies only to objectType kms";
    /// Remove `jmesPath` or give it entries.
    InvalidArgument fn jmes_paths_empty(label: &str) = "{label}: jmesPath is an empty list";
    /// Give each `jmesPath` entry a `path`.
    InvalidArgument fn jmes_path_empty(owner: &str) = "{owner}: path is empty";
    /// The expression breaks one of the rules below.
    InvalidArgument fn bad_jmes_path(owner: &str, reason: String) = "{owner}: {reason}";
    /// Shorten the expression; a jmesPath selects one field.
    Part fn jmes_too_long(path_q: &str, n: usize, limit: usize) =
        "path {path_q} is {n} bytes, over the limit of {limit} (MAX_JMESPATH_BYTES)";
    /// Each operator can add a level of recursion: select the field more directly.
    Part fn jmes_too_many_operators(path_q: &str, n: usize, limit: usize) =
        "path {path_q} has {n} operators, over the limit of {limit} (MAX_JMESPATH_OPERATORS)";
    /// Brackets and parentheses nest too deep.
    Part fn jmes_too_deep(path_q: &str, n: usize, limit: usize) =
        "path {path_q} nests brackets {n} deep, over the limit of {limit} (MAX_JMESPATH_NESTING)";
    /// The expression does not compile: quote keys with dashes: `'"read-replica".host'`.
    Part fn jmes_syntax(path_q: &str, reason: String) =
        "path {path_q} is not a JMESPath expression: {reason}";
    /// jmesPath here selects a string of the document: fields, indexes, slices, projections,
    /// filters and pipes (README, "jmesPath"). REASON is one of the three parts below.
    Part fn jmes_not_a_selection(path_q: &str, reason: String) = "path {path_q}: {reason}";
    /// Function calls are refused: they can build values of any size.
    Part fn jmes_function(name_q: &str) =
        "calls the function {name_q}; jmesPath here selects fields and does not call functions";
    /// `&expr` only serves functions.
    Part fn jmes_expref() = "uses an expression reference (&), which only functions take";
    /// `[a, b]` and `{a: a}` build values: select one field per entry.
    Part fn jmes_multi_select() = "builds a multi-select list or hash; jmesPath here selects one string field";
}
