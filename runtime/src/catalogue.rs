//! The one place each binary defines its error messages: every message is a function generated
//! from a catalogue entry that holds its gRPC code, its text and its fix, and
//! `docs/troubleshooting.md` is rendered from the same entries, so the page and the code cannot
//! drift apart (docs/reference.md §2.8).
//!
//! A binary declares its entries with [`catalogue!`](crate::catalogue!), grouped in sections:
//!
//! ```ignore
//! keywarden_runtime::catalogue! {
//!     "Parameters", "What the SecretProviderClass says.";
//!     /// `region` must look like `eu-west-1`.
//!     InvalidArgument fn bad_region(region: &str) = "parameter region {region} is not an AWS region name";
//! }
//! ```
//!
//! Each entry becomes `pub fn bad_region(region: &str) -> <InvalidArgument as Kind>::Out`, which
//! formats the text with its arguments; the doc comment is the fix shown on the page.

mod serving;

pub use serving::*;

/// The messages of serving that both binaries share (rendered with the provider's tables).
pub const SERVING: Section = serving::SECTION;

/// What a kind of message turns into, and the code the page shows for it.
pub trait Kind {
    /// The value an entry's function returns (a binary's error type, or `String` for a part).
    type Out;
    /// The gRPC code (or the outcome) shown on the troubleshooting page.
    const CODE: &'static str;
    /// Wraps the formatted text.
    fn make(text: String) -> Self::Out;
}

/// A part of a message: text another entry's message quotes as its reason (for example the
/// rule a path breaks, inside `objects[N]: objectAlias: …`).
pub struct Part;

impl Kind for Part {
    type Out = String;
    const CODE: &'static str = "part";
    fn make(text: String) -> String {
        text
    }
}

/// Declares the kinds of a binary's error type whose variants carry a catalogue `Message`: for
/// each `Variant => "CODE"`, a unit struct `Variant` whose entries build `Error::Variant`. The
/// `Message` type in scope at the call site must be a tuple struct over `String`.
#[macro_export]
macro_rules! error_kinds {
    ($error:ident; $($kind:ident => $code:literal),* $(,)?) => {$(
        #[doc = concat!("An error returned as `", $code, "`.")]
        pub struct $kind;
        impl $crate::catalogue::Kind for $kind {
            type Out = $error;
            const CODE: &'static str = $code;
            fn make(text: String) -> $error {
                $error::$kind(Message(text))
            }
        }
    )*};
}

/// Kinds for the text of a structured error (a `thiserror` variant whose `Display` calls the
/// catalogue), named after the gRPC code it is returned with; and for the one line a binary
/// prints before it exits: `ExitStart` (exit 2, its flags are refused) and `ExitCommand`
/// (exit 1, a command such as `seal` failed).
pub mod codes {
    use super::Kind;

    macro_rules! text_kinds {
        ($($kind:ident => $code:literal),* $(,)?) => {$(
            #[doc = concat!("Text of an error returned as `", $code, "`.")]
            pub struct $kind;
            impl Kind for $kind {
                type Out = String;
                const CODE: &'static str = $code;
                fn make(text: String) -> String {
                    text
                }
            }
        )*};
    }

    text_kinds! {
        InvalidArgumentText => "INVALID_ARGUMENT",
        NotFoundText => "NOT_FOUND",
        PermissionDeniedText => "PERMISSION_DENIED",
        FailedPreconditionText => "FAILED_PRECONDITION",
        ResourceExhaustedText => "RESOURCE_EXHAUSTED",
        UnavailableText => "UNAVAILABLE",
        DeadlineExceededText => "DEADLINE_EXCEEDED",
        InternalText => "INTERNAL",
        ExitStart => "exit 2",
        ExitCommand => "exit 1",
    }
}

/// One message of a catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The function that produces it.
    pub name: &'static str,
    /// The code it is returned with (see [`Kind::CODE`]).
    pub code: &'static str,
    /// The format string, with `{argument}` holes.
    pub text: &'static str,
    /// Each argument's name and type, as written.
    pub args: &'static [(&'static str, &'static str)],
    /// Its cause and fix, in Markdown.
    pub fix: &'static str,
}

/// A group of entries: one table on the troubleshooting page.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    /// The heading.
    pub title: &'static str,
    /// A sentence under the heading.
    pub intro: &'static str,
    /// The messages.
    pub entries: &'static [Entry],
}

/// Declares a section of a catalogue: its message functions and a `pub(super) const SECTION`.
/// The kinds named must be types implementing [`Kind`] in scope at the call site.
#[macro_export]
macro_rules! catalogue {
    (
        $title:literal, $intro:literal;
        $( $(#[doc = $fix:literal])+
           $kind:ident fn $name:ident($($arg:ident: $ty:ty),* $(,)?) = $text:literal; )*
    ) => {
        $(
            $(#[doc = $fix])+
            #[allow(clippy::useless_format)]
            pub fn $name($($arg: $ty),*) -> <$kind as $crate::catalogue::Kind>::Out {
                <$kind as $crate::catalogue::Kind>::make(format!($text))
            }
        )*
        /// The entries of this section, for the troubleshooting page.
        pub(super) const SECTION: $crate::catalogue::Section = $crate::catalogue::Section {
            title: $title,
            intro: $intro,
            entries: &[$($crate::catalogue::Entry {
                name: stringify!($name),
                code: <$kind as $crate::catalogue::Kind>::CODE,
                text: $text,
                args: &[$((stringify!($arg), stringify!($ty))),*],
                fix: concat!($($fix, "\n"),*),
            }),*],
        };
    };
}

/// How an argument is shown on the page: names with a fixed rendering (`label` as
/// `objects[N] (NAME)`), every other argument in capitals; `"QUOTED"` when formatted with `:?`
/// or when its name ends in `_q` (a value already quoted with a bounded prefix).
pub type Placeholders = &'static [(&'static str, &'static str)];

/// The Markdown of `sections`: a heading, its sentence and a table of message, code and fix.
pub fn markdown(sections: &[Section], placeholders: Placeholders) -> String {
    let mut page = String::new();
    for section in sections {
        page.push_str(&format!("### {}\n\n{}\n\n", section.title, section.intro));
        page.push_str("| message | code | cause and fix |\n|---|---|---|\n");
        for entry in section.entries {
            let message = shown(entry.text, entry.args, placeholders);
            let fence = if message.contains('`') { "``" } else { "`" };
            let fix: Vec<&str> = entry.fix.lines().map(str::trim).collect();
            page.push_str(&format!(
                "| {fence}{}{fence} | {} | {} |\n",
                message.replace('|', "\\|"),
                entry.code,
                fix.join(" ").trim().replace('|', "\\|"),
            ));
        }
        page.push('\n');
    }
    page
}

/// A format string as the page shows it: holes replaced by placeholders, braces unescaped. A
/// hole formatted with `:?` is shown quoted when its argument is text (its type names `str`,
/// `String`, `Path` or `Debug`), as `Debug` quotes text but not numbers or durations.
pub fn shown(text: &str, args: &[(&str, &str)], placeholders: Placeholders) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        let Some(end) = tail.find('}') else {
            out.push_str(tail);
            return out;
        };
        let hole = &tail[1..end];
        let (name, spec) = hole.split_once(':').unwrap_or((hole, ""));
        let (name, quoted) = match name.strip_suffix("_q") {
            Some(bare) => (bare, true),
            None => {
                let ty = args
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or("", |(_, t)| *t);
                let text_like = ["str", "String", "Path", "Debug"]
                    .iter()
                    .any(|t| ty.contains(t));
                (name, spec.contains('?') && text_like)
            }
        };
        let shown = placeholders
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| name.to_ascii_uppercase(), |(_, s)| (*s).to_owned());
        if quoted {
            out.push_str(&format!("\"{shown}\""));
        } else {
            out.push_str(&shown);
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Checks that the part of `page` between `begin` and `end` markers is `generated`; with
/// `KEYWARDEN_REGENERATE_DOCS=1` rewrites it instead. For each binary's drift test.
pub fn check_generated(
    page: &std::path::Path,
    begin: &str,
    end: &str,
    generated: &str,
) -> Result<(), String> {
    let text = std::fs::read_to_string(page).map_err(|e| format!("{}: {e}", page.display()))?;
    let (Some(b), Some(e)) = (text.find(begin), text.find(end)) else {
        return Err(format!(
            "{} lacks the markers {begin:?} / {end:?}",
            page.display()
        ));
    };
    let start = b + begin.len();
    let current = text[start..e].trim();
    if current == generated.trim() {
        return Ok(());
    }
    if std::env::var_os("KEYWARDEN_REGENERATE_DOCS").is_some() {
        let rewritten = format!(
            "{}\n\n{}\n\n{}",
            &text[..start],
            generated.trim(),
            &text[e..]
        );
        std::fs::write(page, rewritten).map_err(|e| e.to_string())?;
        return Ok(());
    }
    Err(format!(
        "{} is not what the catalogue renders; run \
         KEYWARDEN_REGENERATE_DOCS=1 cargo test --workspace catalogue and commit the page",
        page.display()
    ))
}

/// The prefix of the input quoted in an error message, at most.
pub const QUOTE_BYTES: usize = 64;

/// `text` cut to at most `max` bytes on a character boundary, and whether it was cut.
fn cut(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// `text` cut to at most [`QUOTE_BYTES`] bytes, quoted, for error messages: a message never
/// echoes an unbounded amount of tenant input.
pub fn quote(text: &str) -> String {
    match cut(text, QUOTE_BYTES) {
        (whole, false) => format!("{whole:?}"),
        (head, true) => format!("{head:?}… ({} bytes)", text.len()),
    }
}

/// `text` cut to at most [`QUOTE_BYTES`] bytes, unquoted, with `…` when cut: for labels.
pub fn prefix(text: &str) -> String {
    match cut(text, QUOTE_BYTES) {
        (whole, false) => whole.to_owned(),
        (head, true) => format!("{head}…"),
    }
}

/// A message from a library (a parser's complaint, which may quote the input) cut to a bounded
/// length.
pub fn clip(message: &str) -> String {
    match cut(message, 4 * QUOTE_BYTES) {
        (whole, false) => whole.to_owned(),
        (head, true) => format!("{head}…"),
    }
}

/// The unit test of a binary's catalogue module: [`check_catalogue`] for the crate being
/// tested, with the catalogue's `SECTIONS` and `PLACEHOLDERS` in scope.
#[macro_export]
macro_rules! catalogue_test {
    ($binary:literal) => {
        #[cfg(test)]
        mod catalogue_tests {
            /// The page's tables are this catalogue, every entry has a fix and a unique name,
            /// and no error text is formatted outside it.
            #[test]
            fn troubleshooting_page_is_the_catalogue_and_the_only_source_of_messages() {
                let problems = $crate::catalogue::check_catalogue(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
                    $binary,
                    super::SECTIONS,
                    super::PLACEHOLDERS,
                );
                assert!(problems.is_empty(), "{}", problems.join("\n"));
            }
        }
    };
}

/// Everything a binary's catalogue test checks, for the crate at `crate_dir` whose page region
/// is marked with `binary`'s name: the page region equals what `sections` render (or is
/// rewritten with `KEYWARDEN_REGENERATE_DOCS=1`), every entry has a fix and a unique name, and
/// no error text is formatted outside `src/catalogue`. Returns the problems found.
pub fn check_catalogue(
    crate_dir: &std::path::Path,
    binary: &str,
    sections: &[Section],
    placeholders: Placeholders,
) -> Vec<String> {
    let page = crate_dir.join("../docs/troubleshooting.md");
    let dir = crate_dir
        .file_name()
        .map_or_else(String::new, |d| d.to_string_lossy().into_owned());
    let begin = format!("<!-- BEGIN {binary} catalogue (generated: {dir}/src/catalogue.rs) -->");
    let end = format!("<!-- END {binary} catalogue -->");
    let mut problems = Vec::new();
    if let Err(e) = check_generated(&page, &begin, &end, &markdown(sections, placeholders)) {
        problems.push(e);
    }
    let mut names = std::collections::BTreeSet::new();
    for entry in sections.iter().flat_map(|s| s.entries) {
        if entry.fix.trim().len() <= 10 {
            problems.push(format!("{} has no fix", entry.name));
        }
        if !names.insert(entry.name) {
            problems.push(format!("{} is declared twice", entry.name));
        }
    }
    let src = crate_dir.join("src");
    for stray in stray_messages(&src, &src.join("catalogue")) {
        problems.push(format!("message outside the catalogue: {stray}"));
    }
    problems
}

/// Lines of the Rust sources under `src` (outside `catalogue` and test code) that format error
/// text themselves instead of calling the catalogue: for each binary's test that its catalogue
/// is the only place messages are written. A heuristic over lines; it errs towards reporting.
pub fn stray_messages(src: &std::path::Path, catalogue: &std::path::Path) -> Vec<String> {
    let mut offenders = Vec::new();
    for file in rust_files(src) {
        if file.starts_with(catalogue) || file.ends_with("tests.rs") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            offenders.push(format!("{}: unreadable", file.display()));
            continue;
        };
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            let l = line.trim();
            if l.starts_with("//") {
                continue;
            }
            let makes_text = [
                "format!(",
                "\".into()",
                "\".to_owned()",
                "anyhow!(\"",
                "bail!(\"",
            ]
            .iter()
            .any(|p| l.contains(p));
            let in_error = ["Err(", "map_err(", "bail!(", "anyhow!(", "context("]
                .iter()
                .any(|p| l.contains(p));
            let literal_error_attribute = l.contains("#[error(\"") && !l.contains("#[error(\"{");
            if makes_text && in_error || literal_error_attribute {
                offenders.push(format!("{}:{}: {l}", file.display(), n + 1));
            }
        }
    }
    offenders
}

fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[cfg(test)]
#[allow(unreachable_pub)]
mod tests {
    use super::*;

    pub struct Shout;
    impl Kind for Shout {
        type Out = String;
        const CODE: &'static str = "SHOUT";
        fn make(text: String) -> String {
            text.to_uppercase()
        }
    }

    mod sample {
        use super::Shout;
        use crate::catalogue::Part;
        crate::catalogue! {
            "Sample", "Two messages.";
            /// Pick another `name`.
            /// Or two.
            Shout fn taken(label: &str, name: &str, other_q: &str) = "{label}: name {name:?} is taken by {other_q} | {{x}}";
            /// The reason.
            Part fn why(n: usize) = "{n} is odd";
        }
    }

    #[test]
    fn stray_messages_are_found_outside_the_catalogue_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path();
        std::fs::create_dir_all(src.join("catalogue")).expect("mkdir");
        let stray = "fn f() -> Result<(), String> {\n    Err(format!(\"bad {}\", 1))\n}\n";
        std::fs::write(src.join("a.rs"), stray).expect("write");
        std::fs::write(src.join("catalogue/b.rs"), stray).expect("write");
        let clean = "#[derive(thiserror::Error)]\n#[error(\"{}\", x())]\nstruct E;\n#[cfg(test)]\nfn t() { let _ = Err::<(), _>(format!(\"x\")); }\n";
        std::fs::write(src.join("c.rs"), clean).expect("write");
        std::fs::write(src.join("d.rs"), "#[error(\"literal text\")]\n").expect("write");
        let found = stray_messages(src, &src.join("catalogue"));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("a.rs:2"), "{found:?}");
        assert!(found[1].contains("d.rs:1"), "{found:?}");
    }

    #[test]
    fn quote_is_bounded_and_keeps_characters_whole() {
        assert_eq!(quote("abc"), "\"abc\"");
        let long = "é".repeat(100);
        let quoted = quote(&long);
        assert!(quoted.len() < QUOTE_BYTES + 40, "{quoted}");
        assert!(quoted.ends_with("(200 bytes)"), "{quoted}");
        assert!(quoted.starts_with("\"éé"), "{quoted}");
    }

    #[test]
    fn entries_format_their_arguments_and_render_a_table() {
        assert_eq!(
            sample::taken("a", "b", "c"),
            "A: NAME \"B\" IS TAKEN BY C | {X}"
        );
        assert_eq!(sample::why(3), "3 is odd");
        let page = markdown(&[sample::SECTION], &[("label", "objects[N]")]);
        assert!(
            page.contains("| `objects[N]: name \"NAME\" is taken by \"OTHER\" \\| {x}` | SHOUT | Pick another `name`. Or two. |"),
            "{page}"
        );
        assert!(
            page.contains("| `N is odd` | part | The reason. |"),
            "{page}"
        );
        assert!(page.starts_with("### Sample\n\nTwo messages.\n"), "{page}");
    }
}
