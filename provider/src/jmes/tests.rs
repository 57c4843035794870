//! Tests of jmesPath bounds, the selection allow-list and extraction.

use super::*;

/// Admits every field.
fn all(_: usize) -> Result<(), MountError> {
    Ok(())
}

fn plan(path: &str) -> JmesPathPlan {
    JmesPathPlan {
        path: path.into(),
        alias: "x".into(),
        mode: 0o400,
        encoding: crate::encoding::ObjectEncoding::Utf8,
    }
}

#[test]
fn extracts_strings() {
    let json = br#"{"username":"app","db":{"password":"hunter2"},"port":5432,"list":[{"n":"a","v":"1"},{"n":"b","v":"2"}]}"#;
    let out = extract(
        "o",
        json,
        &[
            plan("username"),
            plan("db.password"),
            plan("list[?n=='b'].v | [0]"),
        ],
        all,
    )
    .expect("ok");
    assert_eq!(out[0].0.as_slice(), b"app");
    assert_eq!(out[1].0.as_slice(), b"hunter2");
    assert_eq!(out[2].0.as_slice(), b"2");
}

#[test]
fn non_strings_and_misses_are_errors() {
    let json = br#"{"port":5432,"tags":["a"]}"#;
    let err = extract("o", json, &[plan("port")], all)
        .expect_err("number")
        .to_string();
    assert!(err.contains("yields a number, not a string"), "{err}");
    let err = extract("o", json, &[plan("missing")], all)
        .expect_err("null")
        .to_string();
    assert!(err.contains("matched nothing"), "{err}");
    let err = extract("o", b"not json", &[plan("a")], all)
        .expect_err("json")
        .to_string();
    assert!(err.contains("does not parse"), "{err}");
}

#[test]
fn selections_pass_the_check() {
    for path in [
        "a.b",
        "\"with-dash\".value",
        "items[0].secret",
        "items[-1]",
        "items[1:3] | [0]",
        "items[*].name | [0]",
        "items[?name == 'db' && !disabled].value | [0]",
        "*.password | [0]",
        "nested[][] | [0]",
        "a || b",
        "'raw(((((('",
        "\"((((((((((((\"",
    ] {
        check(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    }
}

#[test]
fn builders_and_bad_expressions_fail_the_check() {
    let cases = [
        ("a.[", "not a JMESPath expression"),
        ("to_string(@)", "calls the function \"to_string\""),
        ("join('', [a, a])", "calls the function"),
        ("[a, b]", "multi-select"),
        ("{x: a}", "multi-select"),
        ("items[*].[a, a, a]", "multi-select"),
    ];
    for (path, want) in cases {
        let err = check(path).expect_err(path);
        assert!(err.contains(want), "{path:?}: want {want:?} in {err:?}");
    }
}

#[test]
fn bounds_are_checked_before_compiling() {
    // Each of these overflowed the compiler's stack before the bounds existed.
    let deep_parens = format!("{}a{}", "(".repeat(50_000), ")".repeat(50_000));
    let negations = format!("{}a", "!".repeat(100_000));
    let projections = "[*]".repeat(60);
    let unbalanced = "[".repeat(20);
    let cases = [
        (deep_parens.as_str(), "MAX_JMESPATH_BYTES"),
        (&negations[..200], "MAX_JMESPATH_OPERATORS"),
        (projections.as_str(), "MAX_JMESPATH_OPERATORS"),
        (unbalanced.as_str(), "MAX_JMESPATH_NESTING"),
        ("((((((((((a))))))))))", "MAX_JMESPATH_NESTING"),
    ];
    for (path, want) in cases {
        let err = check(path).expect_err(want);
        assert!(err.contains(want), "want {want:?} in {err:?}");
        assert!(
            err.len() < 300,
            "the message quotes a bounded prefix: {err}"
        );
    }
}

/// Half of a tokio worker thread's default stack.
const TEST_STACK_BYTES: usize = 1024 * 1024;

#[test]
fn every_expression_within_the_bounds_compiles_on_a_small_stack() {
    // The worst shapes the bounds allow, compiled and evaluated on half the stack of a tokio
    // worker (2 MiB): a recursion the bounds do not cover crashes this test instead of a node.
    // In a debug build the worst of these needs about 512 KiB; a release build needs less.
    let worst = [
        format!("{}a", "!".repeat(MAX_JMESPATH_OPERATORS)),
        format!(
            "{}a{}",
            "(".repeat(MAX_JMESPATH_NESTING),
            ")".repeat(MAX_JMESPATH_NESTING)
        ),
        "a[*]".repeat(MAX_JMESPATH_OPERATORS / 2),
        "a.".repeat(MAX_JMESPATH_OPERATORS) + "a",
        "a | ".repeat(MAX_JMESPATH_OPERATORS) + "a",
        "a || ".repeat(MAX_JMESPATH_OPERATORS / 2) + "a",
    ];
    let handle = std::thread::Builder::new()
        .stack_size(TEST_STACK_BYTES)
        .spawn(move || {
            let json = br#"{"a":{"a":"x"}}"#;
            for path in &worst {
                if check(path).is_ok() {
                    let _ = extract("o", json, &[plan(path)], all);
                }
            }
        })
        .expect("spawn");
    handle.join().expect("no stack overflow");
}

#[test]
fn parse_cost_counts_values() {
    assert_eq!(parse_cost(b"\"x\""), 3 + BYTES_PER_JSON_VALUE);
    let array = b"[0,0,0]";
    assert_eq!(parse_cost(array), 7 + 4 * BYTES_PER_JSON_VALUE);
    assert_eq!(
        parse_cost(b"{\"a\":0}"),
        7 + 3 * BYTES_PER_JSON_VALUE + BYTES_PER_JSON_OBJECT
    );
}

/// Documents shaped to cost the most heap per byte of text: what the Mount charges before
/// parsing one must cover what parsing it really takes, as the allocator counts it.
#[test]
fn parse_cost_covers_the_heap_of_the_costliest_documents() {
    let n = 20_000;
    let nested = format!("{}0{}", "{\"a\":".repeat(20), "}".repeat(20));
    let shapes = [
        ("numbers", format!("[{}0]", "0,".repeat(n))),
        ("empty strings", format!("[{}\"\"]", "\"\",".repeat(n))),
        ("empty arrays", format!("[{}[]]", "[],".repeat(n))),
        ("empty objects", format!("[{}{{}}]", "{},".repeat(n))),
        (
            "one-key objects",
            format!("[{}{{\"a\":0}}]", "{\"a\":0},".repeat(n)),
        ),
        (
            "nested objects",
            format!("[{}{nested}]", format!("{nested},").repeat(n / 20)),
        ),
        (
            "wide object",
            format!(
                "{{{}\"k\":0}}",
                (0..n).map(|i| format!("\"{i}\":0,")).collect::<String>()
            ),
        ),
        ("short strings", format!("[{}\"x\"]", "\"x\",".repeat(n))),
        ("escapes", format!("[\"{}\"]", "\\u0041".repeat(n))),
    ];
    for (shape, json) in shapes {
        let (_, _, peak) = keywarden_heap_meter::measure(|| {
            let _ = extract("o", json.as_bytes(), &[plan("a")], all);
        });
        let charged = parse_cost(json.as_bytes());
        assert!(
            peak <= charged,
            "{shape}: parsing {} bytes took {peak} bytes of heap, {charged} charged",
            json.len()
        );
    }
}

/// Many fields of one large value: each is charged before it is copied, so a Mount over its
/// budget stops at the first field that does not fit, not after copying them all.
#[test]
fn fields_are_charged_before_they_are_copied() {
    let value = "v".repeat(1 << 20);
    let json = format!("{{\"k\":\"{value}\"}}");
    let plans = vec![plan("k"); 64];
    let budget = crate::budget::NodeBudget::new(8 << 20).mount(usize::MAX);
    let (result, _, peak) = keywarden_heap_meter::measure(|| {
        extract("o", json.as_bytes(), &plans, |len| budget.hold(len, "o")).map(|f| f.len())
    });
    let err = result.expect_err("64 MiB of fields in an 8 MiB budget");
    assert!(err.to_string().contains("budget"), "{err}");
    // The document's parse (about 2 MiB) and the fields that fit (8 MiB), not 64 MiB.
    assert!(peak < 12 << 20, "extraction held {peak} bytes at once");
}

#[test]
fn wipe_walks_the_deepest_document_without_recursion() {
    // serde_json stops at 128 levels; the wipe must not need a deep stack to take that apart.
    let json = format!("{}\"s\"{}", "[".repeat(127), "]".repeat(127));
    let data = Arc::new(Variable::from_json(&json).expect("json"));
    let handle = std::thread::Builder::new()
        .stack_size(32 * 1024)
        .spawn(move || wipe(data))
        .expect("spawn");
    handle.join().expect("no stack overflow");
}
