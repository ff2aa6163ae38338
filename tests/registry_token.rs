//! The real distribution registry in token-auth mode, the way Docker Hub works: the registry
//! answers 401 with a Bearer challenge, and a token issuer started by the test (basic
//! credentials in, a JWT signed with a test RSA key out, its certificate in the JWT's `x5c`
//! header and in the registry's `rootcertbundle`) grants what the scope asks for.

mod common;
#[path = "registry_cli/fake.rs"]
mod fake;
#[path = "registry_cli/support.rs"]
mod support;

use base64::Engine;
use common::Env;
use fake::{fake_registry, Reply};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use support::{fails, home, image_id, ok, ok_in, pushed_digest, run, Registry};

const USER: &str = "dave";
const PASSWORD: &str = "t0ken-pa55";

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT for `access` (`[{type, name, actions}]`), RS256-signed by `key` (openssl does the
/// signing), with the DER certificate in `x5c`.
fn sign(key: &Path, cert_der: &[u8], access: serde_json::Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({
        "typ": "JWT", "alg": "RS256",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(cert_der)],
    });
    let claims = serde_json::json!({
        "iss": "strata-test-issuer", "sub": USER, "aud": "strata-test-registry",
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("{:x}", rand::random::<u64>()),
        "access": access,
    });
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    format!("{input}.{}", b64url(&out.stdout))
}

/// The access a token request's `scope` parameters ask for (all granted).
fn requested_access(query: &str) -> serde_json::Value {
    let mut access = Vec::new();
    for pair in query.split('&') {
        let Some(scope) = pair.strip_prefix("scope=") else {
            continue;
        };
        let scope = scope
            .replace("%3A", ":")
            .replace("%2C", ",")
            .replace("%2F", "/");
        let mut parts = scope.splitn(3, ':');
        if let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        {
            access.push(serde_json::json!({
                "type": kind, "name": name,
                "actions": actions.split(',').collect::<Vec<_>>(),
            }));
        }
    }
    serde_json::Value::Array(access)
}

struct Issuer {
    port: u16,
    requests: Arc<AtomicUsize>,
    cert: PathBuf,
}

/// A token endpoint that checks basic credentials and signs tokens with a fresh key.
fn start_issuer(dir: &Path) -> Issuer {
    let (key, cert) = (dir.join("token.key"), dir.join("token.pem"));
    common::tool(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=strata-test-issuer",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert)
        .output()
        .unwrap()
        .stdout;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    let port = fake_registry(Arc::new(move |_method, path, headers| {
        let Some(query) = path.strip_prefix("/token?") else {
            return Reply::new(404, Vec::new());
        };
        seen.fetch_add(1, Ordering::SeqCst);
        if !query.contains("service=strata-test-registry") {
            return Reply::new(400, Vec::new());
        }
        // Anonymous requests get tokens without access, as Docker Hub's do for private
        // repositories; the registry then refuses them.
        let access = if headers.get("authorization") == Some(&basic) {
            requested_access(query)
        } else if headers.contains_key("authorization") {
            return Reply::new(
                401,
                br#"{"details":"incorrect username or password"}"#.to_vec(),
            );
        } else {
            serde_json::json!([])
        };
        let token = sign(&key, &der, access);
        Reply::new(
            200,
            serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                .to_string()
                .into_bytes(),
        )
        .header("Content-Type", "application/json")
    }));
    Issuer {
        port,
        requests,
        cert,
    }
}

#[test]
fn token_auth_with_a_jwt_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = start_issuer(dir.path());
    let auth = format!(
        "  token:\n    realm: http://127.0.0.1:{}/token\n    service: strata-test-registry\n    \
         issuer: strata-test-issuer\n    rootcertbundle: {}\n",
        issuer.port,
        issuer.cert.display()
    );
    let registry = Registry::start_with_auth(dir, &auth);
    let env = Env::new();
    let id = env.import_base("base");
    let dest = format!("{}/tok/base:v1", registry.host());

    // Anonymous: the issuer hands out a token without access; the registry refuses it.
    let err = fails(&env, &["push", "base", &dest], None);
    assert!(err.contains("log in with `strata login"), "{err}");

    let out = ok_in(
        &env,
        &["login", "-u", USER, "--password-stdin", &registry.host()],
        Some(PASSWORD),
    );
    assert!(out.contains("Login Succeeded"), "{out}");
    let before = issuer.requests.load(Ordering::SeqCst);
    let out = run(
        &env,
        &["--progress", "json", "-vv", "push", "base", &dest],
        None,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    // One token (pull,push on the repository) served the whole push.
    assert_eq!(issuer.requests.load(Ordering::SeqCst) - before, 1);
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for secret in [PASSWORD, encoded.as_str(), "eyJ"] {
        assert!(
            !stdout.contains(secret),
            "{secret} in the progress: {stdout}"
        );
        assert!(!stderr.contains(secret), "{secret} in the log: {stderr}");
    }
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let digest = last["aux"]["Digest"].as_str().unwrap().to_string();

    // A fresh store with the same credentials pulls it back.
    let dst = Env::new();
    std::fs::create_dir_all(home(&dst).join(".docker")).unwrap();
    std::fs::copy(
        home(&env).join(".docker/config.json"),
        home(&dst).join(".docker/config.json"),
    )
    .unwrap();
    let pulled = ok(&dst, &["pull", &dest]);
    assert!(pulled.contains(&digest), "{pulled}");
    assert_eq!(image_id(&dst, &dest), id);
    ok(&dst, &["system", "check"]);
    // skopeo, with its own token dance, sees the same image.
    let inspect = common::tool(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &format!("{USER}:{PASSWORD}"),
            &format!("docker://{dest}"),
        ],
    );
    assert!(inspect.contains(&digest), "{inspect}");
    // The second push asks HEAD only and gets the same digest.
    assert_eq!(pushed_digest(&ok(&env, &["push", "base", &dest])), digest);
}
