//! GitHub App token exchange (reference §3.5) against the fake GitHub on 127.0.0.1: JWT
//! claims, PKCS#1 and PKCS#8 keys, the request GitHub sees, GHE base URLs, failures without
//! secrets in their messages, and the Task-owned token Secret.
//!
//! The keys are throwaway test keys generated for these tests only (support/github_app.rs
//! has the App's PKCS#8 key and its public half).

#[path = "support/github_app.rs"]
mod app_fixture;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use k8s_openapi::ByteString;
use kelos_api::Task;
use kelos_controller::github_app::{
    AppClaims, AppCredentials, GitHubAppError, InstallationToken, TokenClient, api_base_url,
    desired_token_secret, is_github_app, is_github_app_secret, workspace_installation_token,
};
use kelos_fake_github::{FakeGitHub, Fault};
use serde_json::json;

use app_fixture::{
    APP_ID, APP_KEY_PKCS8, APP_PUBLIC_KEY, INSTALLATION_ID, app_secret_data, fake_github_with_app,
    register_app,
};

const APP_KEY_PKCS1: &str = r"-----BEGIN RSA PRIVATE KEY-----
MIIEpQIBAAKCAQEA1kLjN+xgRLnwIYucozyY+eJ66aCqvM7gm22VHd+a7Z3nB42e
z0zlI2AQNPfRjLWsxZXVqfbpoOLw7iuw+QFYv603ZIKWBs1mCNAL/mmgy8hIDJGK
eCY6sGkJvdTbqkfQwyItQYPuro/IqHI7pJDXzebBWTI5Gyf8WtaSe9L11lDEuUW7
06wpo/FpXHhgeUX3q434d5gwpIOZjH/K+OKr77wqO59aLR4wIUzqLkuVUaX1D57f
b+mD8wQu9Ip9oPZE1wWSuVl+kFstzAA1qeDvvdOM6nSfY5zyMsD20M2SCh9LHh1B
7N8mTT9aGCcUgS0pQ5raoEhyVpNGC+XANWl9cwIDAQABAoIBAA5FU4TYrR2pBset
NDX9uDCvd0FTDreghLVqE3C8bwp4b0qBkg6Exvsg/X7Ihe28GyhWKreHkoVTjNT/
FmpFGlXMz8tVgnB1sM2/UawLjAayG4eMfcrFmIGLVXdFAUHykCdpXWkCxIEVPiew
UT9e2Fsh+yHQiwq/W2jGVcQU2fGlmQPhkcng0OfR60VGNEPcQlniVaeOUer7T6Bo
fDE2O6xc0Nx5qX++B14ApM/3rMO7G/BxHHzbG39iLCbP0VkQup1HQN2kYYI6/Geb
aj5y8JGwkZ6ex3GboSPePYCpTJXf+xozkMCgPHFIMh7UA6cqldsANt5gipouofly
DsgnJ3kCgYEA9pqF3Ji70x6DgsWDV2wsdA14Rp9pxgpVfB9C8FxKpxooESMAmjhp
df5HfuR5xPB4fGQ30QpRkLhi3y6nRTi3qZLXIQ3wwl8hxrxrU6Mewi7KUFzTRUnL
TZ0K8gzUASOxgXPIuaiHRK1NckxmhOSvRpr2xYqdqxgP7qm1KHLnbRkCgYEA3mzi
QBbl5y33jr3HbjbQM2zyw4QstGE2M7IXcH2CyoQ0tjIHokCdcArZc+piYPSB2t8g
aDNSrv9dh6o1MzPsIjFM77egd2eqg0xeGjkGedjhvYZFk973VrBMQF+w68OWoxGh
xPflqEmbnrP/DQW2THdUxx7CLxqdjlCW602ehGsCgYEAtBDU2eU0kM3hHWX3p6g3
NW54eqkAZTk6fm2dRUE+yZGR3CGA2RuD9kJ8Fi3itGkasUnEcAFm2ZOprmm0fhkS
EuJD78DsIiGw2hrPC706QnRECjYdlqRxrPSU/3VagJJ9lJbk5JwoWX9p46Hh4fvR
+G5C7q9uvXXOfGiy/RwZ3FECgYEAg+gq3Ts3KLyX/a0KopAbNQQ9jDnMkUS9cjcB
s5KbiCKTaCGPaWfMdm/YueecZEdc40JD48fcFzAWdag5WJ5IQZbfO6K4pVdzRd56
SC7dalF2voDsrl8ia+Sts9eMAqXBpf+E4lzpc74DbkDs1vo2PG7gdh4Fpw2vtoCQ
oAcuJPUCgYEAnN+iidk9IzTDNAiYKsECvIkmrLh1g4gd77985bowfTdTNEKywKQt
hmhsdX9CI+hA2TJ/Jkli3CKY18P3bcK6K44L0kOXynIRLh4k76gOEk61FNLHLYNn
20NMTaSYHwHqsgNl4fj8z2IQVgoG9dLnSw1SE2+LjvhVa6YHSs1ljSg=
-----END RSA PRIVATE KEY-----";
const OTHER_KEY: &str = r"-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC76zVTgFQdq7zO
05vGV/1cqNefCKyBSVMPssjlk+BXpHtNgjpRmoUHWr5dtw9cO9XG8p0v1/6vNlWS
WCkNKo0t/odarANA8HYHchvlKXeyetSENf3hU0F7uo7V5i6uWc/N+PSWsJnXPF6L
bGzmEsiyCAzu6dmnsrvVE9r0KDv/bEkmSoucl+YQaWSbuPsYvNzj5eO64ZA8PmiB
UpQ/itUBJu0lynXi8L/nN6BGKZvKWPTlc51sRQ6RxqYw7rch2nwdO7c0QaFYE+km
Zy9xrNuraV2B8UVnYzgQreia9dFokI7Art76RqthD5Z+t6HGPQRoW8Y6adVW/X1l
VML3DgS5AgMBAAECggEADhPNL1+uLXjXkJDmmwGtb7sQSBAgyCCjkcn9ZcFhrX8b
Y4+Nad6O96GTIDcd9fVfiuNS5ioioKKL34YuMRfOcrMeFatMJRm+ZcllEJI+Lscn
022uAqq3fZrYp2pydcoxmIb9X6qEI80Ycg5hzAx9L2UN/vnSvc7UZl5x6Rd4gyZK
8YDzkQp+QtsrahJqhc7LVk29Fka44yHcqS+1TxsCl5u50q8AeR2Bb/msl0NOi/Qe
61cQfDlqpo596L8g3d6h4UESRI5vV7+d0EaXr9gez/EcFhfdpNdMviRsCjzFkDt4
vBFavYN1nxgTBCdGTVQPvgOx5GwEtK+N2NnL3X4fwQKBgQD2PttmQZbgkgiKBNhW
BfZ79fugtPoncGjaTOtNjtNzjR2QvWewPqamjPTYziWE0sAWuc8mPSxTrz0ddE7A
o581JEAANc5QykRGg6/FawNb0ReQx7kgpOxTDSeoBta4tiRO42wHTlE4AG5D6+Ga
coN7GsmGggnFYmFAGR9vyHyXkQKBgQDDXN4UBJ/p+DdH+XbXEUxhchh+NJvRgjG0
Ub27FcEfCr3cPjXrkfzzFHyTvtUk5u2vtl8zndrriVZ8tIplPyM51pjSrPcWWhYo
E8TlMWds0Swf1YTjDDLeXlMC77IgVfhV5JvV++KD9Na2SWcETB5uUIv4bvzMyJ0L
xBsB0o+WqQKBgCoVE+mly+MVEeCEc3RAEJ+eqiIMy7NxwnmMK6pVfk2BEExsEgxM
qK5N6IoksMTCP5Gir4QZcDnc+NTPy6WgUNUEHOvsRhYIeyKR3rgeUbSfRye2+ixa
AwkudliA0rE+b3YL56pX+AlaCX4SEbwTVeTz7vzNvF2/Ml+B651u5dwBAoGAeD4j
jeyexHH7DHi1tX+3JE8GVj9pHFVm5FZfUdP87m89Fl7P7zMGnlKgrosJQ1JDPyAf
jnR9NvVr3wt8Fv76XnH/08OTvRUrh/VK/cofnzFLWDiiNuDeOlGSBD+lwhNH6w3v
AJCtBYzfzoh1OIblP/6heAJP5Hchegl0mfWQXSkCgYEApNHC4sKxs8+tiyu1olwJ
2cPTJ5CvALo1xruur2aI1NxfA0FvxWuO+CeX+vHMkgmOy1BnOCsMeyD/BhIhLgSj
5hkH/XNi+jL+1cplfoeZ4M71ulwM8vy2H8chzg+GkRKZR0BkWj2bPhTR97GWoYno
uMFGtCB4ZjTHPN/l/1m8L2c=
-----END PRIVATE KEY-----";

fn secret_data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
        .collect()
}

fn creds(key: &str) -> AppCredentials {
    AppCredentials::from_secret_data(&secret_data(&[
        ("appID", &APP_ID.to_string()),
        ("installationID", &format!("{INSTALLATION_ID}\n")),
        ("privateKey", key),
    ]))
    .expect("valid credentials")
}

/// Secret material that must never appear in an error message or a Debug print.
fn assert_no_secrets(text: &str, jwt: Option<&str>) {
    for pem_line in APP_KEY_PKCS1
        .lines()
        .chain(APP_KEY_PKCS8.lines())
        .skip(1)
        .take(3)
    {
        assert!(!text.contains(pem_line), "private key leaked: {text}");
    }
    assert!(!text.contains("PRIVATE KEY"), "private key leaked: {text}");
    assert!(!text.contains("ghs_"), "token leaked: {text}");
    if let Some(jwt) = jwt {
        assert!(!text.contains(jwt), "JWT leaked: {text}");
        assert!(
            !text.contains(jwt.split('.').nth(2).unwrap()),
            "JWT signature leaked: {text}"
        );
    }
}

#[test]
fn detects_app_secrets_only_with_all_three_keys() {
    let full = secret_data(&[("appID", "1"), ("installationID", "2"), ("privateKey", "k")]);
    assert!(is_github_app(&full));
    for missing in ["appID", "installationID", "privateKey"] {
        let mut d = full.clone();
        d.remove(missing);
        assert!(!is_github_app(&d), "without {missing}");
    }
    assert!(!is_github_app(&secret_data(&[("GITHUB_TOKEN", "ghp_x")])));
    let secret = k8s_openapi::api::core::v1::Secret {
        data: Some(full),
        ..Default::default()
    };
    assert!(is_github_app_secret(&secret));
    assert!(!is_github_app_secret(&Default::default()));
}

#[test]
fn jwt_claims_and_signature_for_pkcs1_and_pkcs8_keys() {
    let public = DecodingKey::from_rsa_pem(APP_PUBLIC_KEY.as_bytes()).unwrap();
    for key in [APP_KEY_PKCS1, APP_KEY_PKCS8] {
        let c = creds(key);
        assert_eq!(c.app_id(), "4242");
        assert_eq!(c.installation_id(), "777");
        let now = Utc::now();
        let jwt = c.jwt(now).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&["4242"]);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        let claims = jsonwebtoken::decode::<AppClaims>(&jwt, &public, &validation)
            .expect("signed by the App key")
            .claims;
        assert_eq!(
            claims,
            AppClaims {
                iat: now.timestamp() - 60,
                exp: now.timestamp() + 600,
                iss: "4242".into()
            }
        );
        // The issuer is a JSON string, as the original sends it.
        let raw: serde_json::Value = jsonwebtoken::dangerous::insecure_decode_claims(&jwt).unwrap();
        assert_eq!(raw["iss"], json!("4242"));
    }
}

#[test]
fn bad_credentials_are_rejected_without_echoing_them() {
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("appID", " "),
                ("installationID", "1"),
                ("privateKey", APP_KEY_PKCS1),
            ],
            "GitHub App secret: appID is empty",
        ),
        (
            vec![
                ("appID", "12a"),
                ("installationID", "1"),
                ("privateKey", APP_KEY_PKCS1),
            ],
            "GitHub App secret: appID must be a number",
        ),
        (
            vec![
                ("appID", "1"),
                ("installationID", "1/../../x"),
                ("privateKey", APP_KEY_PKCS1),
            ],
            "GitHub App secret: installationID must be a number",
        ),
        (
            vec![
                ("appID", "1"),
                ("installationID", "1"),
                ("privateKey", "\n"),
            ],
            "GitHub App secret: privateKey is empty",
        ),
        (
            vec![
                ("appID", "1"),
                ("installationID", "1"),
                ("privateKey", "not a pem"),
            ],
            "GitHub App secret: privateKey is not a PEM-encoded RSA private key (PKCS#1 or PKCS#8)",
        ),
        (
            vec![
                ("appID", "1"),
                ("installationID", "1"),
                ("privateKey", APP_PUBLIC_KEY),
            ],
            "signing the GitHub App JWT failed: the private key is not a usable RSA key",
        ),
    ];
    for (data, message) in cases {
        let err = AppCredentials::from_secret_data(&secret_data(&data)).unwrap_err();
        assert_eq!(err.to_string(), message);
        assert_no_secrets(&format!("{err} {err:?}"), None);
    }
    // A truncated key body fails too, and does not echo what it got.
    let truncated: String = APP_KEY_PKCS1
        .lines()
        .take(5)
        .chain(APP_KEY_PKCS1.lines().last())
        .collect::<Vec<_>>()
        .join("\n");
    let err = AppCredentials::new(b"1", b"1", truncated.as_bytes()).unwrap_err();
    assert_no_secrets(&format!("{err} {err:?}"), None);
    // Debug of good credentials shows ids only.
    let dbg = format!("{:?}", creds(APP_KEY_PKCS8));
    assert!(dbg.contains("4242") && dbg.contains("<redacted>"));
    assert_no_secrets(&dbg, None);
}

#[test]
fn api_base_urls() {
    assert_eq!(
        api_base_url("https://github.com/acme/w.git", None),
        "https://api.github.com"
    );
    assert_eq!(
        api_base_url("git@github.com:acme/w.git", None),
        "https://api.github.com"
    );
    assert_eq!(
        api_base_url("https://ghe.corp/acme/w", None),
        "https://ghe.corp/api/v3"
    );
    assert_eq!(
        api_base_url("git@ghe.corp:acme/w", None),
        "https://ghe.corp/api/v3"
    );
    assert_eq!(
        api_base_url(
            "https://ghe.corp/acme/w",
            Some("http://127.0.0.1:9/api/v3/")
        ),
        "http://127.0.0.1:9/api/v3"
    );
    assert_eq!(
        api_base_url("https://github.com/a/b", Some("")),
        "https://api.github.com"
    );
}

#[tokio::test]
async fn mints_a_token_from_the_fake_github() {
    let gh = fake_github_with_app().await;
    let client = TokenClient::new().unwrap();
    let base = api_base_url("https://github.com/acme/widgets", Some(&gh.url()));
    for key in [APP_KEY_PKCS1, APP_KEY_PKCS8] {
        let token = client
            .installation_token(&base, &creds(key))
            .await
            .expect("token minted");
        let minted = gh.minted_tokens();
        let last = minted.last().unwrap();
        assert_eq!(token.token, last.token);
        assert_eq!(token.expires_at, last.expires_at.trunc_subsecs(0));
        assert_eq!(last.installation_id, INSTALLATION_ID);
        assert_eq!(last.app_id, APP_ID);
        assert!(token.expires_at > Utc::now());
        let dbg = format!("{token:?}");
        assert!(
            !dbg.contains(&token.token),
            "Debug must hide the token: {dbg}"
        );
    }
    assert_eq!(gh.mint_count(), 2);
    let requests = gh.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/app/installations/777/access_tokens");
        assert_eq!(r.accept.as_deref(), Some("application/vnd.github.v3+json"));
        assert_eq!(r.status, Some(201));
        let auth = r.authorization.as_deref().unwrap();
        let jwt = auth.strip_prefix("Bearer ").expect("Bearer JWT");
        assert_eq!(
            jsonwebtoken::decode_header(jwt).unwrap().alg,
            Algorithm::RS256
        );
    }
}

#[tokio::test]
async fn ghe_base_url_keeps_its_path() {
    let gh = FakeGitHub::start_with_prefix("/api/v3").await;
    register_app(&gh);
    assert!(gh.url().ends_with("/api/v3"));
    let client = TokenClient::new().unwrap();
    let base = api_base_url(
        "https://ghe.corp/acme/widgets",
        Some(&format!("{}/", gh.url())),
    );
    let token = client
        .installation_token(&base, &creds(APP_KEY_PKCS1))
        .await
        .unwrap();
    assert!(!token.token.is_empty());
    let r = &gh.requests()[0];
    assert_eq!(r.path, "/api/v3/app/installations/777/access_tokens");
    assert_eq!(r.api_path, "/app/installations/777/access_tokens");
}

#[tokio::test]
async fn a_key_github_does_not_know_gives_401_without_secrets() {
    let gh = fake_github_with_app().await;
    let wrong = creds(OTHER_KEY);
    let err = TokenClient::new()
        .unwrap()
        .installation_token(&gh.url(), &wrong)
        .await
        .unwrap_err();
    let sent_jwt = gh.requests()[0].authorization.clone().unwrap();
    let sent_jwt = sent_jwt.strip_prefix("Bearer ").unwrap();
    match &err {
        GitHubAppError::UnexpectedStatus {
            status,
            url,
            message,
        } => {
            assert_eq!(*status, 401);
            assert_eq!(
                url,
                &format!("{}/app/installations/777/access_tokens", gh.url())
            );
            assert_eq!(message, "A JSON web token could not be decoded");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("unexpected status 401 from http://127.0.0.1:")
    );
    assert_no_secrets(&format!("{err} {err:?}"), Some(sent_jwt));
    assert_eq!(gh.mint_count(), 0);
}

#[tokio::test]
async fn unknown_installation_and_server_errors_fail_cleanly() {
    let gh = fake_github_with_app().await;
    let client = TokenClient::new().unwrap();

    let other_installation =
        AppCredentials::new(b"4242", b"778", APP_KEY_PKCS1.as_bytes()).unwrap();
    let err = client
        .installation_token(&gh.url(), &other_installation)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GitHubAppError::UnexpectedStatus { status: 404, .. }),
        "{err:?}"
    );

    gh.add_fault(
        Fault::status(500)
            .method("POST")
            .path("/app/installations/*/access_tokens"),
    );
    let err = client
        .installation_token(&gh.url(), &creds(APP_KEY_PKCS8))
        .await
        .unwrap_err();
    let sent_jwt = gh.requests().last().unwrap().authorization.clone().unwrap();
    match &err {
        GitHubAppError::UnexpectedStatus { status, .. } => assert_eq!(*status, 500),
        other => panic!("unexpected error {other:?}"),
    }
    assert_no_secrets(
        &format!("{err} {err:?}"),
        Some(sent_jwt.strip_prefix("Bearer ").unwrap()),
    );
    assert_eq!(gh.mint_count(), 0);
}

#[tokio::test]
async fn malformed_success_bodies_timeouts_and_dead_servers_are_errors() {
    let gh = fake_github_with_app().await;
    let client = TokenClient::new().unwrap();

    let fault = gh.add_fault(Fault::malformed_json().method("POST").times(1));
    let err = client
        .installation_token(&gh.url(), &creds(APP_KEY_PKCS1))
        .await
        .unwrap_err();
    // The fake answers 200 with half a body: anything but 201 fails, and the (partial)
    // token in that body is not echoed.
    assert!(
        matches!(err, GitHubAppError::UnexpectedStatus { status: 200, .. }),
        "{err:?}"
    );
    assert_no_secrets(&format!("{err} {err:?}"), None);
    gh.remove_fault(fault);

    let fault = gh.add_fault(Fault::delay(Duration::from_secs(3)).method("POST"));
    let err = client
        .clone()
        .with_timeout(Duration::from_millis(300))
        .installation_token(&gh.url(), &creds(APP_KEY_PKCS1))
        .await
        .unwrap_err();
    assert!(matches!(err, GitHubAppError::Timeout { .. }), "{err:?}");
    gh.remove_fault(fault);

    gh.add_fault(Fault::drop_connection().method("POST"));
    let err = client
        .installation_token(&gh.url(), &creds(APP_KEY_PKCS1))
        .await
        .unwrap_err();
    assert!(matches!(err, GitHubAppError::Transport { .. }), "{err:?}");

    // Nothing listens on this port any more.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = client
        .installation_token(&format!("http://{addr}"), &creds(APP_KEY_PKCS1))
        .await
        .unwrap_err();
    assert!(matches!(err, GitHubAppError::Transport { .. }), "{err:?}");

    let err = client
        .installation_token("not a url", &creds(APP_KEY_PKCS1))
        .await
        .unwrap_err();
    assert_eq!(err, GitHubAppError::InvalidBaseUrl("not a url".into()));
}

#[test]
fn token_secret_is_task_owned_with_the_token_under_github_token() {
    let task: Task = serde_json::from_value(json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "Task",
        "metadata": {"name": "fix-7", "namespace": "team", "uid": "1234-abcd"},
        "spec": {"type": "codex", "prompt": "p", "credentials": {"type": "api-key", "secretRef": {"name": "c"}}}
    }))
    .unwrap();
    let token = InstallationToken {
        token: "ghs_example".into(),
        expires_at: Utc::now(),
    };
    let secret = desired_token_secret(&task, &token);
    assert_eq!(
        serde_json::to_value(&secret).unwrap(),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "fix-7-github-token",
                "namespace": "team",
                "labels": {"kelos.dev/task": "fix-7"},
                "ownerReferences": [{
                    "apiVersion": "kelos.dev/v1alpha1",
                    "kind": "Task",
                    "name": "fix-7",
                    "uid": "1234-abcd",
                    "controller": true,
                    "blockOwnerDeletion": true
                }]
            },
            "stringData": {"GITHUB_TOKEN": "ghs_example"}
        })
    );
}

#[tokio::test]
async fn workspace_exchange_from_secret_data() {
    let gh = FakeGitHub::start_with_prefix("/api/v3").await;
    register_app(&gh);
    let data = secret_data(&app_secret_data("777"));
    assert!(is_github_app(&data));
    let client = TokenClient::new().unwrap();
    let token = workspace_installation_token(
        &client,
        "git@ghe.corp:acme/widgets.git",
        Some(&gh.url()),
        &data,
    )
    .await
    .unwrap();
    assert_eq!(token.token, gh.minted_tokens()[0].token);
    assert_eq!(
        gh.requests()[0].path,
        "/api/v3/app/installations/777/access_tokens"
    );

    let err = workspace_installation_token(
        &client,
        "https://github.com/a/b",
        Some(&gh.url()),
        &secret_data(&[("GITHUB_TOKEN", "ghp_pat")]),
    )
    .await
    .unwrap_err();
    assert_eq!(err, GitHubAppError::EmptyField("appID"));
    assert_eq!(gh.requests().len(), 1);
}
