//! Mount requests as the driver sends them: `attributes` JSON, the `objects` YAML inside it and
//! `permission`. Any input must give parameters or a named error, never a panic.
#![no_main]

use keywarden_proto::csi::MountRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Raw attributes, and the same text as the `objects` parameter of well-formed attributes.
    let objects = format!("{{\"objects\": {}}}", json_string(&text));
    for attributes in [text.to_string(), objects] {
        let request = MountRequest {
            attributes,
            secrets: "null".into(),
            target_path: "/tmp/t".into(),
            permission: "420".into(),
            current_object_version: vec![],
        };
        let _ = keywarden_provider::params::parse(&request);
    }
});

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
