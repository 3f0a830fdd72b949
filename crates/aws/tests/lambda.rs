//! `lambda:invoke` on a function that really runs: moto runs a Lambda
//! function as a Docker container (`handler EVENT`, the answer on the last
//! line of its output) from the image `MOTO_DOCKER_LAMBDA_IMAGE` names. The
//! test builds that image (`FROM scratch` plus Debian's static busybox and a
//! shell handler), and `busybox:latest` (with which moto copies the code
//! into a volume) when the engine has none.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::json;
use sha2::Digest;
use support::Moto;

const FUNCTION_IMAGE: &str = "windlass-test/lambda:echo";

const HANDLER: &str = r#"# moto runs `handler EVENT`; the answer is the last line of the output.
event="$2"
case "$event" in
  *'"fail"'*) echo '{"errorType":"Oops","errorMessage":"asked to fail"}'; exit 1 ;;
esac
echo "handler $1 called"
echo "{\"echo\":$event,\"function\":\"$AWS_LAMBDA_FUNCTION_NAME\"}"
"#;

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("docker could not be run ({e}); the test needs the Docker engine")
        })
}

/// Builds `tag` from `files` (path in the image, bytes) and `dockerfile`.
fn build(work: &Path, tag: &str, files: &[(&str, &[u8])], dockerfile: &str) {
    let context = work.join(tag.replace([':', '/'], "-"));
    for (path, bytes) in files {
        let at = context.join(path);
        std::fs::create_dir_all(at.parent().expect("a parent")).expect("context dir");
        std::fs::write(&at, bytes).expect("context file");
        std::fs::set_permissions(&at, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("executable");
    }
    std::fs::write(context.join("Dockerfile"), dockerfile).expect("Dockerfile");
    let out = docker(&["build", "-q", "-t", tag, context.to_str().expect("a path")]);
    assert!(
        out.status.success(),
        "docker build {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn images(work: &Path) {
    let busybox = std::fs::read("/bin/busybox")
        .expect("Debian's busybox-static at /bin/busybox (scripts/setup installs it)");
    if !docker(&["image", "inspect", "busybox:latest"])
        .status
        .success()
    {
        build(
            work,
            "busybox:latest",
            &[("bin/busybox", &busybox)],
            "FROM scratch\nCOPY bin/busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCMD [\"sh\"]\n",
        );
    }
    build(
        work,
        FUNCTION_IMAGE,
        &[("bin/busybox", &busybox), ("handler", HANDLER.as_bytes())],
        "FROM scratch\nCOPY bin/busybox /bin/busybox\nCOPY handler /handler\nENTRYPOINT [\"/bin/busybox\", \"sh\", \"/handler\"]\n",
    );
}

/// A zip archive holding one small file: the function's code, which the
/// image ignores.
fn code_zip() -> String {
    // Stored (no compression) zip of `index.js` = "x", written by hand.
    let name = b"index.js";
    let data = b"x";
    let crc: u32 = 0x8cdc1683;
    let mut local = Vec::new();
    local.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    local.extend_from_slice(&crc.to_le_bytes());
    local.extend_from_slice(&(data.len() as u32).to_le_bytes());
    local.extend_from_slice(&(data.len() as u32).to_le_bytes());
    local.extend_from_slice(&(name.len() as u16).to_le_bytes());
    local.extend_from_slice(&[0, 0]);
    local.extend_from_slice(name);
    local.extend_from_slice(data);
    let mut central = Vec::new();
    central.extend_from_slice(&[0x50, 0x4b, 0x01, 0x02, 20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    central.extend_from_slice(&crc.to_le_bytes());
    central.extend_from_slice(&(data.len() as u32).to_le_bytes());
    central.extend_from_slice(&(data.len() as u32).to_le_bytes());
    central.extend_from_slice(&(name.len() as u16).to_le_bytes());
    central.extend_from_slice(&[0; 12]);
    central.extend_from_slice(&0u32.to_le_bytes());
    central.extend_from_slice(name);
    let mut zip = local.clone();
    let offset = zip.len() as u32;
    zip.extend_from_slice(&central);
    zip.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 1, 0, 1, 0]);
    zip.extend_from_slice(&(central.len() as u32).to_le_bytes());
    zip.extend_from_slice(&offset.to_le_bytes());
    zip.extend_from_slice(&[0, 0]);
    base64::engine::general_purpose::STANDARD.encode(zip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_invoke_runs_the_function_in_a_container() {
    let work = std::env::temp_dir().join(format!("windlass-aws-lambda-{}", std::process::id()));
    images(&work);
    let moto = Moto::start_with(&[("MOTO_DOCKER_LAMBDA_IMAGE", FUNCTION_IMAGE)]);
    let definition = json!({ "StartAt": "Role", "States": {
        "Role": { "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iam:createRole",
            "Parameters": { "RoleName": "fn", "AssumeRolePolicyDocument": "{}" }, "ResultPath": "$.role", "Next": "Create" },
        "Create": { "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:lambda:createFunction",
            "Parameters": { "FunctionName": "echo", "Runtime": "python3.12", "Handler": "index.handler",
                "Role.$": "$.role.Role.Arn", "Code": { "ZipFile": code_zip() } },
            "ResultSelector": { "name.$": "$.FunctionName" }, "ResultPath": "$.created", "Next": "Invoke" },
        "Invoke": { "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": { "FunctionName": "echo", "Payload": { "n.$": "$.n" } }, "ResultPath": "$.invoked", "Next": "Sdk" },
        "Sdk": { "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:lambda:invoke",
            "Parameters": { "FunctionName": "echo", "Payload": "{\"raw\":true}" }, "ResultPath": "$.sdk", "Next": "Bare" },
        "Bare": { "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo",
            "Parameters": { "bare.$": "$.n" }, "ResultPath": "$.bare", "Next": "Fail" },
        "Fail": { "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": { "FunctionName": "echo", "Payload": { "fail": true } },
            "Catch": [{ "ErrorEquals": ["Oops"], "ResultPath": "$.failed", "Next": "Missing" }], "End": true },
        "Missing": { "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": { "FunctionName": "absent" },
            "Catch": [{ "ErrorEquals": ["Lambda.ResourceNotFoundException"], "ResultPath": "$.missing", "Next": "Done" }], "End": true },
        "Done": { "Type": "Succeed" } } });
    let out = support::output(moto.config(), &definition, json!({ "n": 3 })).await;
    drop(moto);
    std::fs::remove_dir_all(&work).ok();
    // moto keeps the code in a volume named by the zip's SHA-256.
    let zip = base64::engine::general_purpose::STANDARD
        .decode(code_zip())
        .expect("base64");
    let digest: String = sha2::Sha256::digest(&zip)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    docker(&["volume", "rm", &digest]);
    assert_eq!(out["created"]["name"], "echo");
    assert_eq!(out["invoked"]["StatusCode"], 200);
    assert_eq!(
        out["invoked"]["Payload"],
        json!({ "echo": { "n": 3 }, "function": "echo" })
    );
    assert_eq!(out["sdk"]["StatusCode"], 200);
    let sdk_payload: serde_json::Value = serde_json::from_str(
        out["sdk"]["Payload"]
            .as_str()
            .expect("aws-sdk gives the payload as text"),
    )
    .expect("JSON text");
    assert_eq!(
        sdk_payload,
        json!({ "echo": { "raw": true }, "function": "echo" })
    );
    // A function's ARN as the resource: the payload is the result.
    assert_eq!(
        out["bare"],
        json!({ "echo": { "bare": 3 }, "function": "echo" })
    );
    assert_eq!(out["failed"]["Error"], "Oops");
    assert_eq!(
        out["failed"]["Cause"],
        json!("{\"errorType\":\"Oops\",\"errorMessage\":\"asked to fail\"}")
    );
    assert_eq!(out["missing"]["Error"], "Lambda.ResourceNotFoundException");
}
