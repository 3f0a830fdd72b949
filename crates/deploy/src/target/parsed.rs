//! Each release's pinned Compose text, parsed once per process: a release's
//! text never changes, and every step loads its release again (an app's
//! warm rollback parses one per service before its traffic can move).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use crate::compose::{self, Project};

/// Texts kept at most; past it the memo starts again (a long-lived agent
/// keeps the releases it goes back and forth between).
const KEPT: usize = 256;

/// (file, text) to the project, or to the first error's message.
type Memo = HashMap<(String, String), Result<Arc<Project>, String>>;

static PARSED: LazyLock<Mutex<Memo>> = LazyLock::new(Mutex::default);

/// The project of a release's pinned text, or why it does not read. The
/// text was checked whole when the deploy was asked for; its build context
/// and secret files are not checked again (they may have changed since).
pub(crate) fn project(text: &str, file: &Path) -> Result<Arc<Project>, String> {
    let key = (file.display().to_string(), text.to_owned());
    if let Some(parsed) = lock().get(&key) {
        return parsed.clone();
    }
    let options = compose::Options {
        files: compose::FileChecks::Skip,
        ..compose::Options::pinned()
    };
    let (project, diagnostics) = compose::check_text(text, file, &options);
    let parsed = project.map(Arc::new).ok_or_else(|| {
        diagnostics
            .iter()
            .find(|d| d.severity == compose::Severity::Error)
            .map_or_else(|| "it cannot be read".to_owned(), ToString::to_string)
    });
    let mut memo = lock();
    if memo.len() >= KEPT {
        memo.clear();
    }
    memo.insert(key, parsed.clone());
    parsed
}

fn lock() -> std::sync::MutexGuard<'static, Memo> {
    PARSED.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::project;
    use std::path::Path;
    use std::sync::Arc;

    #[test]
    fn a_text_is_parsed_once_and_its_error_kept() {
        let file = Path::new("/memo/compose.yaml");
        let text = "services:\n  web:\n    image: busybox\n";
        let first = project(text, file).expect("reads");
        let again = project(text, file).expect("reads");
        assert!(Arc::ptr_eq(&first, &again));
        assert!(first.services.contains_key("web"));
        let bad = "services:\n  web:\n    image: [1]\n";
        let error = project(bad, file).expect_err("does not read");
        assert_eq!(project(bad, file).expect_err("still"), error);
    }
}
