//! A user upgrades windlass while its agent runs in the background: the
//! next command that would start an agent stops the one of the other build
//! and starts its own (it resumes what the old one left, as after any
//! stop); a command that starts none says so and uses the old one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The agent and proxy processes of a state folder, stopped at the end.
struct State {
    dir: PathBuf,
    old_agent: Option<Child>,
}

impl Drop for State {
    fn drop(&mut self) {
        if let Some(child) = self.old_agent.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The agent first: asked while its proxy is gone, it would not say
        // its pid.
        if let Some(pid) = agent_pid(&self.dir) {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("state/proxy.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn windlass(exe: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(exe)
        .args(args)
        .arg("--state")
        .arg(dir.join("state"))
        .current_dir(dir)
        .output()
        .expect("run windlass")
}

/// The pid `status` reports for the running agent.
fn agent_pid(dir: &Path) -> Option<u32> {
    let out = windlass(Path::new(env!("CARGO_BIN_EXE_windlass")), dir, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rest = text.split("agent: running (pid ").nth(1)?;
    rest.split(')').next()?.parse().ok()
}

#[test]
fn an_agent_of_another_build_is_replaced_by_the_next_command_that_starts_one() {
    let dir = PathBuf::from(format!("/tmp/windlass-upgrade-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    // The "old" build: the same program from another file is another build.
    let old = dir.join("old-windlass");
    std::fs::copy(env!("CARGO_BIN_EXE_windlass"), &old).expect("copy the binary");
    std::fs::write(
        dir.join("compose.yaml"),
        "name: upgrade-check\nservices:\n  web:\n    image: windlass-upgrade-test/none:1\n",
    )
    .expect("compose file");
    let log = std::fs::File::create(dir.join("old-agent.log")).expect("log");
    let mut state = State {
        dir: dir.clone(),
        old_agent: None,
    };
    state.old_agent = Some(
        Command::new(&old)
            .args(["agent", "--state"])
            .arg(dir.join("state"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the old agent"),
    );
    let old_pid = state.old_agent.as_ref().map(Child::id);
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent_pid(&dir) != old_pid {
        assert!(Instant::now() < deadline, "the old agent never answered");
        std::thread::sleep(Duration::from_millis(50));
    }

    // `status` starts no agent: it tells, and uses the old one.
    let new = Path::new(env!("CARGO_BIN_EXE_windlass"));
    let out = windlass(new, &dir, &["status"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "the windlass agent (pid {}) runs windlass",
            old_pid.unwrap_or(0)
        )) && said.contains(old.to_str().unwrap_or("?"))
            && said.contains("the next deploy, rollback or down restarts it"),
        "{said}"
    );

    // `down` would start one: the old agent is stopped, this build's runs.
    let out = windlass(new, &dir, &["down"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("stopped the agent (pid {})", old_pid.unwrap_or(0))),
        "{said}"
    );
    assert!(said.contains("started the windlass agent"), "{said}");
    let exited = state.old_agent.as_mut().map(|c| c.wait().expect("wait"));
    assert!(exited.is_some());
    let now = agent_pid(&dir).expect("an agent runs");
    assert_ne!(Some(now), old_pid);
    let out = windlass(new, &dir, &["status"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "same build: nothing to say"
    );
}
