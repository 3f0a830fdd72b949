//! compose-go's own reference as a test: its `loader/full-example.yml` (every
//! field of the Compose Specification) read by windlass and printed in
//! Compose's canonical form must equal, field by field, the YAML and JSON
//! that compose-go's `full-struct_test.go` expects, except the fields listed
//! in `compose-go/exclusions.yaml`, each with its reason. The test fails when
//! a field differs and is not listed, and when a listed field no longer
//! needs to be (a refused field is accepted, a differing one now agrees).

mod conformance;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use conformance::{get, leaves, put, remove_all, same, steps, take, under};
use serde::Deserialize;
use serde_json::Value;
use windlass_deploy::compose::canonical::{self, Format, Normalize, Settings};
use windlass_deploy::compose::{check_text, FileChecks, Options, Severity};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compose-go")
        .join(path)
}

/// The exclusion file: what of compose-go's expected output windlass does
/// not give, and why.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Exclusions {
    /// Fields windlass refuses: taken out of the input, and out of the
    /// expected output with the paths under `also` that only they give.
    refused: Vec<Refused>,
    /// Fields windlass reads and keeps out of its canonical form.
    #[serde(default)]
    dropped: Vec<Dropped>,
    /// Fields windlass prints with another value, both given (null: not
    /// printed).
    #[serde(default)]
    differs: Vec<Differs>,
    /// Services added to the input: compose-go's test skips the consistency
    /// checks that Docker Compose, and windlass, make.
    #[serde(default)]
    added: Vec<Added>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Refused {
    field: String,
    reason: String,
    #[serde(default)]
    also: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Dropped {
    field: String,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Differs {
    field: String,
    compose: Value,
    windlass: Value,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Added {
    field: String,
    value: serde_norway::Value,
    reason: String,
}

/// The project folder and home folder of the run, with compose-go's
/// companion files (env and label files) in the project folder.
struct Folders {
    working: PathBuf,
    home: PathBuf,
}

fn folders(test: &str) -> Folders {
    let root = std::env::temp_dir().join(format!("wl-compose-go-{test}-{}", std::process::id()));
    let working = root.join("loader");
    let home = root.join("home");
    std::fs::create_dir_all(&working).expect("project folder");
    std::fs::create_dir_all(&home).expect("home folder");
    for file in [
        "example1.env",
        "example2.env",
        "example1.label",
        "example2.label",
    ] {
        std::fs::copy(data(file), working.join(file)).expect("companion file");
    }
    Folders { working, home }
}

/// Options as compose-go's TestFullExample loads with.
fn options(folders: &Folders) -> Options {
    Options {
        environment: BTreeMap::from([
            ("HOME".to_owned(), folders.home.display().to_string()),
            ("BAR".to_owned(), "this is a secret".to_owned()),
            ("QUX".to_owned(), "qux_from_environment".to_owned()),
        ]),
        files: FileChecks::Skip,
        ..Options::default()
    }
}

fn exclusions() -> Exclusions {
    let text = std::fs::read_to_string(data("exclusions.yaml")).expect("exclusions.yaml");
    serde_norway::from_str(&text).expect("exclusions.yaml reads")
}

fn full_example() -> serde_norway::Value {
    let text = std::fs::read_to_string(data("full-example.yml")).expect("full-example.yml");
    serde_norway::from_str(&text).expect("full-example.yml is YAML")
}

/// compose-go's expected document, paths filled in.
fn expected(file: &str, folders: &Folders) -> Value {
    let text = std::fs::read_to_string(data(file))
        .expect("expected output")
        .replace("${WORKING_DIR}", &folders.working.display().to_string())
        .replace("${HOME_DIR}", &folders.home.display().to_string());
    if file.ends_with(".json") {
        serde_json::from_str(&text).expect("expected JSON")
    } else {
        serde_norway::from_str(&text).expect("expected YAML")
    }
}

/// The input windlass can read: refused fields out, added services in.
fn reduced(exclusions: &Exclusions) -> serde_norway::Value {
    let mut tree = full_example();
    let mut refused: Vec<_> = exclusions
        .refused
        .iter()
        .map(|r| (steps(&r.field), &r.field))
        .collect();
    // The later list items first, so that the indices of the others hold.
    refused.sort();
    for (path, field) in refused.iter().rev() {
        take(&mut tree, path).unwrap_or_else(|| panic!("{field} is not in full-example.yml"));
    }
    for added in &exclusions.added {
        put(&mut tree, &steps(&added.field), added.value.clone());
    }
    tree
}

/// windlass's errors for `tree`, by field, or its canonical document in
/// both forms.
fn read(tree: &serde_norway::Value, folders: &Folders) -> Result<(Value, Value), Vec<String>> {
    let text = serde_norway::to_string(tree).expect("YAML");
    let file = folders.working.join("full-example.yml");
    let options = options(folders);
    let (project, diagnostics) = check_text(&text, &file, &options);
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{}: {}", d.field, d.message))
        .collect();
    let project = match project {
        Some(project) if errors.is_empty() => project,
        _ => return Err(errors),
    };
    let settings = Settings {
        environment: &options.environment,
        normalize: Normalize::None,
    };
    Ok((
        canonical::document(&project, &settings, Format::Yaml),
        canonical::document(&project, &settings, Format::Json),
    ))
}

/// Compares windlass's document with compose-go's, leaf by leaf, once the
/// excluded paths are out of both; gives the problems and the counts of
/// compose-go's leaves (equal, excluded).
fn compare(
    ours: &Value,
    theirs: &Value,
    exclusions: &Exclusions,
    form: &str,
) -> (Vec<String>, usize, usize) {
    let mut problems = Vec::new();
    let (mut ours, mut theirs) = (ours.clone(), theirs.clone());
    let all = leaves(&theirs).len();
    for differs in &exclusions.differs {
        let path = steps(&differs.field);
        let (mine, compose) = (get(&ours, &path), get(&theirs, &path));
        if !compose.unwrap_or(&Value::Null).eq(&differs.compose) {
            problems.push(format!(
                "{form} {}: compose-go gives {compose:?}, the exclusion file says {}",
                differs.field, differs.compose
            ));
        }
        if !mine.is_some_and(|m| same(m, &differs.windlass)) {
            problems.push(format!(
                "{form} {}: windlass gives {mine:?}, the exclusion file says {}: update it",
                differs.field, differs.windlass
            ));
        }
    }
    for dropped in &exclusions.dropped {
        if let Some(mine) = get(&ours, &steps(&dropped.field)) {
            problems.push(format!("{form} {}: listed as dropped, but windlass prints {mine}: take it out of `dropped`", dropped.field));
        }
    }
    // A refused list item's index is the input's: `also` gives the output's
    // (which are compose-go's indices, not windlass's).
    let mut out: Vec<String> = exclusions
        .refused
        .iter()
        .filter(|r| !r.field.ends_with(']'))
        .map(|r| r.field.clone())
        .collect();
    out.extend(exclusions.dropped.iter().map(|d| d.field.clone()));
    out.extend(exclusions.differs.iter().map(|d| d.field.clone()));
    out.extend(exclusions.added.iter().map(|a| a.field.clone()));
    remove_all(&mut ours, &out);
    out.extend(
        exclusions
            .refused
            .iter()
            .flat_map(|r| r.also.iter().cloned()),
    );
    remove_all(&mut theirs, &out);
    let (ours, theirs) = (leaves(&ours), leaves(&theirs));
    let mut equal = 0;
    for (path, value) in &theirs {
        match ours.get(path) {
            Some(mine) if same(mine, value) => equal += 1,
            Some(mine) => problems.push(format!(
                "{form} {path}: windlass gives {mine}, compose-go {value}"
            )),
            None => problems.push(format!("{form} {path}: windlass leaves out {value}")),
        }
    }
    for (path, value) in &ours {
        if !theirs.contains_key(path) {
            problems.push(format!(
                "{form} {path}: windlass gives {value}, which compose-go does not"
            ));
        }
    }
    (problems, equal, all - theirs.len())
}

#[test]
fn full_example_prints_as_compose_go_expects() {
    let folders = folders("print");
    let exclusions = exclusions();
    let tree = reduced(&exclusions);
    let (yaml, json) = match read(&tree, &folders) {
        Ok(documents) => documents,
        Err(errors) => panic!(
            "windlass refuses full-example.yml without its excluded fields:\n{}",
            errors.join("\n")
        ),
    };
    let mut problems = Vec::new();
    for (ours, file, form) in [
        (&yaml, "full-example.expected.yaml", "YAML"),
        (&json, "full-example.expected.json", "JSON"),
    ] {
        let (found, equal, left_out) = compare(ours, &expected(file, &folders), &exclusions, form);
        println!(
            "{form}: {equal} of compose-go's fields equal, {left_out} excluded, {} differ",
            found.len()
        );
        problems.extend(found);
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    let _ = std::fs::remove_dir_all(folders.working.parent().expect("root"));
}

/// A field's path, or its list's for a list item.
fn anchor(field: &str) -> &str {
    match field.strip_suffix(']') {
        Some(item) => item.rsplit_once('[').map_or(field, |(list, _)| list),
        None => field,
    }
}

#[test]
fn every_refused_field_is_refused_with_its_reason() {
    let folders = folders("refused");
    let exclusions = exclusions();
    let original = full_example();
    let tree = reduced(&exclusions);
    let mut accepted = Vec::new();
    let reasons = exclusions
        .refused
        .iter()
        .map(|r| (&r.field, &r.reason))
        .chain(exclusions.dropped.iter().map(|d| (&d.field, &d.reason)))
        .chain(exclusions.differs.iter().map(|d| (&d.field, &d.reason)))
        .chain(exclusions.added.iter().map(|a| (&a.field, &a.reason)));
    for (field, reason) in reasons {
        assert!(!reason.trim().is_empty(), "{field}: give a reason");
    }
    for refused in &exclusions.refused {
        let path = steps(&refused.field);
        let mut with_field = tree.clone();
        let value = take(&mut original.clone(), &path).expect("in full-example.yml");
        put(&mut with_field, &path, value);
        match read(&with_field, &folders) {
            Ok(_) => accepted.push(refused.field.clone()),
            // A list item put back may land at another index: its list is
            // where the error must be.
            Err(errors) => assert!(
                errors
                    .iter()
                    .any(|e| under(e.split(": ").next().unwrap_or(""), anchor(&refused.field))),
                "{} is refused, but not at its own path: {errors:?}",
                refused.field
            ),
        }
    }
    println!(
        "{} field(s) of full-example.yml refused, {} dropped, {} differ",
        exclusions.refused.len(),
        exclusions.dropped.len(),
        exclusions.differs.len()
    );
    assert!(
        accepted.is_empty(),
        "windlass now accepts these fields: take them out of `refused` in compose-go/exclusions.yaml and check how they print: {accepted:?}"
    );
    let _ = std::fs::remove_dir_all(folders.working.parent().expect("root"));
}

/// One of compose-go's `loader/testdata` files and what each side gives.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestdataCase {
    file: String,
    compose: Outcome,
    windlass: Outcome,
    #[serde(default)]
    because: Vec<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize, Debug, PartialEq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Accept,
    Refuse,
}

#[test]
fn compose_go_testdata_gives_its_outcomes() {
    let text = std::fs::read_to_string(data("testdata.yaml")).expect("testdata.yaml");
    let cases: Vec<TestdataCase> = serde_norway::from_str(&text).expect("testdata.yaml reads");
    let mut problems = Vec::new();
    let mut agree = 0;
    for case in &cases {
        let options = Options {
            environment: BTreeMap::from([("HOME".to_owned(), "/root".to_owned())]),
            files: FileChecks::Skip,
            ..Options::default()
        };
        let file = data("testdata").join(&case.file);
        let (_, diagnostics) = windlass_deploy::compose::check_files(&[file], &options);
        let errors: Vec<String> = diagnostics
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.message)
            .collect();
        let outcome = if errors.is_empty() {
            Outcome::Accept
        } else {
            Outcome::Refuse
        };
        if outcome != case.windlass {
            problems.push(format!(
                "{}: windlass gives {outcome:?}, testdata.yaml says {:?}: {errors:?}",
                case.file, case.windlass
            ));
            continue;
        }
        if outcome == case.compose {
            agree += 1;
        } else if case.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            problems.push(format!(
                "{}: windlass and Compose differ: give the reason",
                case.file
            ));
        }
        for error in &errors {
            if !case.because.iter().any(|b| error.contains(b.as_str())) {
                problems.push(format!(
                    "{}: an error testdata.yaml does not list: {error}",
                    case.file
                ));
            }
        }
        for because in &case.because {
            if !errors.iter().any(|e| e.contains(because.as_str())) {
                problems.push(format!(
                    "{}: windlass no longer says {because:?}",
                    case.file
                ));
            }
        }
    }
    println!(
        "compose-go testdata: windlass agrees with compose-go on {agree} of {} files",
        cases.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
