//! `windlass releases` shows each release's history (what happened to it
//! and when) and marks the app release that serves by the store's rule,
//! the one the agent's app rollback and the dashboard use: after a service
//! was rolled back alone to where an older app release was, that older one
//! serves.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use windlass_store::releases::{
    Event, Happened, Live, Member, NewAppRelease, NewRelease, Releases, ServiceKey, SqliteReleases,
};

fn scratch(case: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("release-history-{case}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn windlass(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .arg("--state")
        .arg(state)
        .current_dir(state)
        .env_remove("COMPOSE_FILE")
        .output()
        .expect("windlass runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn key(service: &str) -> ServiceKey {
    ServiceKey::new("shop", service).expect("a key")
}

/// What the agent records for app `shop`: a1 deploys web r1 and api r1
/// (at minute 1), a2 deploys web r2 and keeps api r1 (minute 2), then
/// `windlass rollback web` puts web back on r1 (minute 3).
fn deployed(state: &Path) -> SqliteReleases {
    let store = SqliteReleases::open(&windlass_deploy::agent::database(state)).expect("store");
    let minute = |n: i64| 1_796_601_600_000 + n * 60_000;
    let release = |service: &str, n: i64| {
        store
            .create(NewRelease {
                service: key(service),
                compose_file: "/shop/compose.yaml".into(),
                compose_text: "name: shop\n".into(),
                by: "test".into(),
                created_millis: minute(n),
                fingerprint: None,
            })
            .expect("release")
            .id
    };
    let record = |service: &str, id: &str, n: i64, what: Happened| {
        store
            .record(&key(service), id, &Event::at(minute(n), what))
            .expect("record");
    };
    let set_live = |service: &str, id: &str, n: i64| {
        store
            .set_live(&Live::of_ports(
                key(service),
                id.into(),
                Vec::new(),
                minute(n),
            ))
            .expect("live");
    };
    let member = |service: &str, release: &str, changed| Member {
        service: service.into(),
        release: release.into(),
        changed,
    };
    let app_release = |services, n: i64| {
        let id = store
            .create_app(NewAppRelease {
                app: "shop".into(),
                services,
                by: "test".into(),
                created_millis: minute(n),
            })
            .expect("app release")
            .id;
        store
            .record_app("shop", &id, &Event::at(minute(n), Happened::WentLive))
            .expect("record");
    };

    let (web1, api1) = (release("web", 1), release("api", 1));
    for (service, id) in [("web", &web1), ("api", &api1)] {
        set_live(service, id, 1);
        record(service, id, 1, Happened::WentLive);
    }
    app_release(
        vec![member("web", &web1, true), member("api", &api1, true)],
        1,
    );
    let web2 = release("web", 2);
    set_live("web", &web2, 2);
    record("web", &web2, 2, Happened::WentLive);
    record("web", &web1, 2, Happened::Retired { by: web2.clone() });
    app_release(
        vec![member("web", &web2, true), member("api", &api1, false)],
        2,
    );
    // `windlass rollback web`.
    set_live("web", &web1, 3);
    record(
        "web",
        &web2,
        3,
        Happened::RolledBack {
            to: Some(web1.clone()),
            rollback_millis: Some(12),
            detail: Some(format!("rolled back to {web1} on request")),
        },
    );
    record("web", &web1, 3, Happened::WentLive);
    store
}

#[test]
fn releases_show_each_release_history_and_the_serving_app_release() {
    let state = scratch("service-rollback");
    let store = deployed(&state);

    // Both web releases went live, and each stays a rollback target.
    let rows = json(&windlass(&state, &["releases", "shop/web", "--json"]));
    let r1 = &rows[1];
    assert_eq!(r1["id"], "r1");
    let events: Vec<&str> = r1["history"]
        .as_array()
        .expect("a history")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(events, ["went-live", "retired", "went-live"], "{r1}");
    assert_eq!(r1["history"][1]["by"], "r2");
    assert_eq!(r1["history"][2]["at"], "2026-12-07T00:03:00.000Z");
    assert_eq!(rows[0]["history"][1]["event"], "rolled-back");
    assert_eq!(rows[0]["history"][1]["to"], "r1");
    assert_eq!(rows[0]["rollback_target"], true, "{}", rows[0]);

    // The OUTCOME column says what happened and when.
    let out = windlass(&state, &["releases", "shop/web"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |id: &str| {
        text.lines()
            .find(|l| l.split_whitespace().take(2).any(|w| w == id))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line("r2").ends_with("went live 2026-12-07 00:02:00, rolled back to r1 00:03:00"),
        "{text}"
    );
    assert!(
        line("r1")
            .ends_with("went live 2026-12-07 00:01:00, retired by r2 00:02:00, went live 00:03:00"),
        "{text}"
    );

    // The services run a1's releases again: a1 serves, for `releases` as
    // for the store's rule (the agent's and the dashboard's).
    let apps = json(&windlass(&state, &["releases", "--json"]));
    let live: Vec<(&str, bool)> = apps
        .as_array()
        .expect("app releases")
        .iter()
        .map(|r| (r["id"].as_str().unwrap_or_default(), r["live"] == true))
        .collect();
    assert_eq!(live, [("a2", false), ("a1", true)], "{apps}");
    let shop = store.app_state("shop").expect("app state");
    assert_eq!(shop.live.as_deref(), Some("a1"));
    assert_eq!(shop.rollback_target, None, "nothing earlier than a1");
    assert!(
        apps.as_array()
            .expect("app releases")
            .iter()
            .all(|r| r["rollback_target"] == false),
        "{apps}"
    );
}
