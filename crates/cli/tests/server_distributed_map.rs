//! `windlass server`, the real binary, killed with SIGKILL in the middle of
//! a Distributed Map that reads a CSV from S3 (a moto server this test
//! starts) and writes its results there, then started again on the same
//! port and data directory: the Map Run carries on, ends once, and its
//! result files hold every row exactly once.

mod server;

#[path = "../../aws/tests/support/mod.rs"]
mod aws_support;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use server::{temp_dir, Server, KEY_ID, SECRET};
use windlass_aws::model::Model;
use windlass_aws::{Client, Credentials, Service};

const ROWS: usize = 300;

async fn call(client: &Client, service: &str, action: &str, input: Json) -> Json {
    let model = Model::of(Service::named(service).expect("known")).expect("model");
    client
        .call(&model, action, &input, None)
        .await
        .unwrap_or_else(|e| panic!("{service}:{action} failed: {e}"))
}

/// The counts of the Map Run, or None while the server cannot answer.
async fn succeeded(sfn: &Client, map_run_arn: &str) -> u64 {
    let run = call(
        sfn,
        "sfn",
        "describeMapRun",
        json!({ "MapRunArn": map_run_arn }),
    )
    .await;
    run["ItemCounts"]["Succeeded"].as_u64().unwrap_or_default()
}

/// Buckets `data` and `results` on moto, with `data/rows.csv` of `rows`
/// rows (`id,word`); the S3 client.
async fn rows_in_s3(moto: &aws_support::Moto, rows: usize) -> Client {
    let s3 = Client::new(moto.config());
    for bucket in ["data", "results"] {
        call(&s3, "s3", "CreateBucket", json!({ "Bucket": bucket })).await;
    }
    let mut csv = String::from("id,word\n");
    for i in 0..rows {
        csv.push_str(&format!("{i},w{i}\n"));
    }
    call(
        &s3,
        "s3",
        "PutObject",
        json!({ "Bucket": "data", "Key": "rows.csv", "Body": csv }),
    )
    .await;
    s3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distributed_map_carries_on_after_the_server_is_killed() {
    let moto = aws_support::Moto::start();
    let s3 = rows_in_s3(&moto, ROWS).await;

    let dir = temp_dir("distributed-map");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let bind = format!("127.0.0.1:{port}");
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let server = Server::launch_env(&dir, &bind, &[], &env);
    let sfn = Client::new(windlass_aws::Config::local(
        &server.url,
        "us-east-1",
        Credentials {
            access_key_id: KEY_ID.into(),
            secret_access_key: SECRET.into(),
            session_token: None,
        },
    ));
    // Each iteration waits a second, 50 at a time: six waves.
    let definition = json!({ "StartAt": "Rows", "States": { "Rows": {
        "Type": "Map",
        "ItemReader": { "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": { "InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW" },
            "Parameters": { "Bucket": "data", "Key": "rows.csv" } },
        "MaxConcurrency": 50,
        "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED" }, "StartAt": "Wait",
            "States": {
                "Wait": { "Type": "Wait", "Seconds": 1, "Next": "Echo" },
                "Echo": { "Type": "Pass", "Parameters": { "id.$": "$.id", "upper.$": "States.Format('W{}', $.id)" }, "End": true } } },
        "ResultWriter": { "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": { "Bucket": "results", "Prefix": "killed" } },
        "End": true } } });
    let machine = call(
        &sfn,
        "sfn",
        "createStateMachine",
        json!({ "Name": "rows",
        "RoleArn": "arn:aws:iam::123456789012:role/r", "Definition": definition.to_string() }),
    )
    .await;
    let started = call(
        &sfn,
        "sfn",
        "startExecution",
        json!({
        "StateMachineArn": machine["StateMachineArn"], "Name": "once", "Input": "{}" }),
    )
    .await;
    let arn = started["ExecutionArn"]
        .as_str()
        .expect("an ARN")
        .to_string();

    // Kill the server once some iterations are done and most are not.
    let deadline = Instant::now() + Duration::from_secs(60);
    let map_run_arn = loop {
        let runs = call(&sfn, "sfn", "listMapRuns", json!({ "ExecutionArn": arn })).await;
        if let Some(run) = runs["MapRuns"][0]["MapRunArn"].as_str() {
            if succeeded(&sfn, run).await >= 50 {
                break run.to_string();
            }
        }
        assert!(Instant::now() < deadline, "the Map Run made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let done_before = succeeded(&sfn, &map_run_arn).await;
    assert!(
        done_before < ROWS as u64,
        "the Map Run ended before the kill"
    );
    server.kill();
    let server = Server::launch_env(&dir, &bind, &[], &env);

    let deadline = Instant::now() + Duration::from_secs(120);
    let described = loop {
        let described = call(
            &sfn,
            "sfn",
            "describeExecution",
            json!({ "ExecutionArn": arn }),
        )
        .await;
        if described["Status"] != "RUNNING" {
            break described;
        }
        assert!(Instant::now() < deadline, "still running after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(described["Status"], "SUCCEEDED", "{described}");
    let output: Json =
        serde_json::from_str(described["Output"].as_str().expect("output")).expect("JSON");
    assert_eq!(
        output["MapRunArn"], map_run_arn,
        "the same Map Run carried on"
    );

    let get = |key: String| {
        let s3 = s3.clone();
        async move {
            let out = call(
                &s3,
                "s3",
                "GetObject",
                json!({ "Bucket": "results", "Key": key }),
            )
            .await;
            out["Body"].as_str().expect("text").to_string()
        }
    };
    let key = output["ResultWriterDetails"]["Key"]
        .as_str()
        .expect("a key")
        .to_string();
    let manifest: Json = serde_json::from_str(&get(key).await).expect("manifest");
    assert_eq!(manifest["ResultFiles"]["FAILED"], json!([]));
    assert_eq!(manifest["ResultFiles"]["PENDING"], json!([]));
    let file = manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]
        .as_str()
        .expect("a file")
        .to_string();
    let records: Vec<Json> = serde_json::from_str(&get(file).await).expect("records");
    let ids: BTreeSet<usize> = records
        .iter()
        .map(|record| {
            let out: Json =
                serde_json::from_str(record["Output"].as_str().expect("Output")).expect("JSON");
            let id: usize = out["id"].as_str().expect("id").parse().expect("a number");
            assert_eq!(out["upper"], format!("W{id}"));
            id
        })
        .collect();
    assert_eq!(records.len(), ROWS);
    assert_eq!(ids, (0..ROWS).collect());

    let run = call(
        &sfn,
        "sfn",
        "describeMapRun",
        json!({ "MapRunArn": map_run_arn }),
    )
    .await;
    assert_eq!(run["Status"], "SUCCEEDED");
    assert_eq!(run["ItemCounts"]["Succeeded"], ROWS);
    let history = call(
        &sfn,
        "sfn",
        "getExecutionHistory",
        json!({ "ExecutionArn": arn, "MaxResults": 1000 }),
    )
    .await;
    let kinds: Vec<&str> = history["Events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["Type"].as_str())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "MapRunStarted").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "MapRunSucceeded").count(), 1);
    println!(
        "killed with {done_before} of {ROWS} iterations done; it ended SUCCEEDED after the restart"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The 10,000-row CSV on the real binary with its SQLite store (fsync on
/// every commit): the time from StartExecution to SUCCEEDED is printed,
/// and the result files are read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_rows_on_the_durable_server() {
    const MANY: usize = 10_000;
    let moto = aws_support::Moto::start();
    let s3 = rows_in_s3(&moto, MANY).await;
    let dir = temp_dir("distributed-map-10k");
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let server = Server::launch_env(&dir, "127.0.0.1:0", &[], &env);
    let sfn = Client::new(windlass_aws::Config::local(
        &server.url,
        "us-east-1",
        Credentials {
            access_key_id: KEY_ID.into(),
            secret_access_key: SECRET.into(),
            session_token: None,
        },
    ));
    for (name, processor) in [
        (
            "pass",
            json!({ "Type": "Pass", "Parameters": { "id.$": "$.id" }, "End": true }),
        ),
        ("wait", json!({ "Type": "Wait", "Seconds": 0, "End": true })),
    ] {
        let definition = json!({ "StartAt": "Rows", "States": { "Rows": {
            "Type": "Map",
            "ItemReader": { "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": { "InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW" },
                "Parameters": { "Bucket": "data", "Key": "rows.csv" } },
            "MaxConcurrency": 1000,
            "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED" }, "StartAt": "Work",
                "States": { "Work": processor } },
            "ResultWriter": { "Resource": "arn:aws:states:::s3:putObject",
                "Parameters": { "Bucket": "results", "Prefix": name } },
            "End": true } } });
        let machine = call(
            &sfn,
            "sfn",
            "createStateMachine",
            json!({ "Name": name,
            "RoleArn": "arn:aws:iam::123456789012:role/r", "Definition": definition.to_string() }),
        )
        .await;
        let began = Instant::now();
        let started = call(
            &sfn,
            "sfn",
            "startExecution",
            json!({
            "StateMachineArn": machine["StateMachineArn"], "Name": "big", "Input": "{}" }),
        )
        .await;
        let arn = started["ExecutionArn"]
            .as_str()
            .expect("an ARN")
            .to_string();
        let described = loop {
            let described = call(
                &sfn,
                "sfn",
                "describeExecution",
                json!({ "ExecutionArn": arn }),
            )
            .await;
            if described["Status"] != "RUNNING" {
                break described;
            }
            assert!(began.elapsed() < Duration::from_secs(600), "still running");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let took = began.elapsed();
        assert_eq!(described["Status"], "SUCCEEDED", "{described}");
        println!("{MANY} rows, processor {name}, durable server: {took:?} from StartExecution to SUCCEEDED");
        let output: Json =
            serde_json::from_str(described["Output"].as_str().expect("output")).expect("JSON");
        let key = output["ResultWriterDetails"]["Key"]
            .as_str()
            .expect("a key")
            .to_string();
        let manifest = call(
            &s3,
            "s3",
            "GetObject",
            json!({ "Bucket": "results", "Key": key }),
        )
        .await;
        let manifest: Json =
            serde_json::from_str(manifest["Body"].as_str().expect("text")).expect("JSON");
        let file = manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]
            .as_str()
            .expect("a file")
            .to_string();
        let body = call(
            &s3,
            "s3",
            "GetObject",
            json!({ "Bucket": "results", "Key": file }),
        )
        .await;
        let records: Vec<Json> =
            serde_json::from_str(body["Body"].as_str().expect("text")).expect("JSON");
        let ids: BTreeSet<usize> = records
            .iter()
            .map(|r| {
                let input: Json =
                    serde_json::from_str(r["Input"].as_str().expect("Input")).expect("JSON");
                input["id"].as_str().expect("id").parse().expect("a number")
            })
            .collect();
        assert_eq!(ids, (0..MANY).collect());
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
