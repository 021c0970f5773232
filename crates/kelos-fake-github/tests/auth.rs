//! Token checks and the GitHub App installation-token exchange.
//!
//! `tests/data/*.pem` are throwaway RSA keys generated for these tests only.

mod common;

use chrono::Utc;
use common::{get, get_with, github_error, request};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kelos_fake_github::{FakeGitHub, NewIssue};
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId, InstallationToken};
use serde_json::json;

const APP_KEY: &str = include_str!("data/app-key.pem");
const APP_PUBLIC_KEY: &str = include_str!("data/app-key.pub.pem");
const OTHER_KEY: &str = include_str!("data/other-key.pem");

fn jwt(key_pem: &str, claims: serde_json::Value) -> String {
    let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
}

/// Claims like the original's token refresher: iat = now - 60 s, exp = now + 10 min.
fn claims(iss: serde_json::Value) -> serde_json::Value {
    let now = Utc::now().timestamp();
    json!({ "iss": iss, "iat": now - 60, "exp": now + 600 })
}

async fn mint(gh: &FakeGitHub, installation: u64, token: &str) -> common::Raw {
    request(
        "POST",
        &format!(
            "{}/app/installations/{installation}/access_tokens",
            gh.url()
        ),
        &[
            ("authorization", &format!("Bearer {token}")),
            ("accept", "application/vnd.github.v3+json"),
        ],
        None,
    )
    .await
}

#[tokio::test]
async fn require_token() {
    let gh = FakeGitHub::start().await;
    gh.repo("acme", "widgets").add_issue(NewIssue::new("one"));
    gh.require_token(Some("pat-token"));
    let url = format!("{}/repos/acme/widgets/issues", gh.url());

    let none = get(&url).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.json()["message"], "Requires authentication");
    let wrong = get_with(&url, &[("authorization", "token nope")]).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["message"], "Bad credentials");
    assert!(wrong.json()["documentation_url"].is_string());
    assert_eq!(
        get_with(&url, &[("authorization", "token pat-token")])
            .await
            .status,
        200
    );
    assert_eq!(
        get_with(&url, &[("authorization", "Bearer pat-token")])
            .await
            .status,
        200
    );

    let log = gh.requests();
    assert!(!log[0].has_authorization());
    assert_eq!(log[2].authorization.as_deref(), Some("token pat-token"));

    // octocrab's personal_token sends `Bearer`.
    let octo = Octocrab::builder()
        .base_uri(gh.url())
        .unwrap()
        .personal_token("pat-token".to_string())
        .build()
        .unwrap();
    assert_eq!(
        octo.issues("acme", "widgets")
            .list()
            .send()
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let bad = Octocrab::builder()
        .base_uri(gh.url())
        .unwrap()
        .personal_token("wrong".to_string())
        .build()
        .unwrap();
    let err = bad
        .issues("acme", "widgets")
        .list()
        .send()
        .await
        .unwrap_err();
    assert_eq!(github_error(&err), (401, "Bad credentials".into()));

    // Extra tokens stand for other users.
    gh.add_token("bobs-token", "bob");
    let me = get_with(
        &format!("{}/user", gh.url()),
        &[("authorization", "token bobs-token")],
    )
    .await;
    assert_eq!(me.json()["login"], "bob");

    gh.require_token(None);
    assert_eq!(get(&url).await.status, 200);
}

#[tokio::test]
async fn installation_token_minting_with_a_verified_jwt() {
    let gh = FakeGitHub::start().await;
    gh.register_app(4242, "kelos-test", Some(APP_PUBLIC_KEY));
    gh.add_installation(77, 4242);

    let r = mint(&gh, 77, &jwt(APP_KEY, claims(json!(4242)))).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let token: InstallationToken = r.parse();
    assert!(token.token.starts_with("ghs_"));
    let expires: chrono::DateTime<Utc> = token.expires_at.as_deref().unwrap().parse().unwrap();
    assert!(expires > Utc::now() + chrono::Duration::minutes(59));
    assert_eq!(token.permissions.issues.as_deref(), Some("write"));
    assert_eq!(gh.mint_count(), 1);
    assert_eq!(gh.minted_tokens()[0].installation_id, 77);

    // `iss` as a string works too (the original signs it that way).
    assert_eq!(
        mint(&gh, 77, &jwt(APP_KEY, claims(json!("4242"))))
            .await
            .status,
        201
    );
    assert_eq!(gh.mint_count(), 2);

    // The minted token authenticates API calls, as the app's bot user.
    gh.repo("acme", "widgets").add_issue(NewIssue::new("one"));
    gh.require_token(Some("unrelated-pat"));
    let auth = format!("token {}", token.token);
    let c = request(
        "POST",
        &format!("{}/repos/acme/widgets/issues/1/comments", gh.url()),
        &[("authorization", &auth)],
        Some(r#"{"body":"accepted"}"#),
    )
    .await;
    assert_eq!(c.status, 201);
    assert_eq!(c.json()["user"]["login"], "kelos-test[bot]");
    assert_eq!(c.json()["user"]["type"], "Bot");
}

#[tokio::test]
async fn bad_jwts_are_rejected() {
    let gh = FakeGitHub::start().await;
    gh.register_app(4242, "kelos-test", Some(APP_PUBLIC_KEY));
    gh.add_installation(77, 4242);
    gh.add_installation(78, 9999);
    let now = Utc::now().timestamp();
    let cases = [
        ("wrong key", jwt(OTHER_KEY, claims(json!(4242))), 401),
        ("unknown app", jwt(APP_KEY, claims(json!(1))), 404),
        (
            "expired",
            jwt(
                APP_KEY,
                json!({"iss": 4242, "iat": now - 700, "exp": now - 10}),
            ),
            401,
        ),
        (
            "too far ahead",
            jwt(APP_KEY, json!({"iss": 4242, "iat": now, "exp": now + 3600})),
            401,
        ),
        (
            "no iat",
            jwt(APP_KEY, json!({"iss": 4242, "exp": now + 300})),
            401,
        ),
        ("not a JWT", "not-a-jwt".to_string(), 401),
    ];
    for (what, token, status) in cases {
        let r = mint(&gh, 77, &token).await;
        assert_eq!(
            r.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.json()["message"].is_string(), "{what}");
    }
    let good = jwt(APP_KEY, claims(json!(4242)));
    assert_eq!(
        mint(&gh, 12345, &good).await.status,
        404,
        "unknown installation"
    );
    assert_eq!(
        mint(&gh, 78, &good).await.status,
        404,
        "another app's installation"
    );
    let no_auth = request(
        "POST",
        &format!("{}/app/installations/77/access_tokens", gh.url()),
        &[],
        None,
    )
    .await;
    assert_eq!(no_auth.status, 401);
    assert_eq!(gh.mint_count(), 0);

    // Without a registered key only the claims are checked.
    gh.register_app(4242, "kelos-test", None);
    assert_eq!(
        mint(&gh, 77, &jwt(OTHER_KEY, claims(json!(4242))))
            .await
            .status,
        201
    );
}

/// octocrab's own App flow: `.app(id, key)` + `.installation(id)` mints on first use and
/// sends the installation token (octocrab signs with its own jsonwebtoken 10, re-exported as
/// `octocrab::EncodingKey`).
#[tokio::test]
async fn octocrab_app_installation_flow() {
    let gh = FakeGitHub::start().await;
    gh.register_app(4242, "kelos-test", Some(APP_PUBLIC_KEY));
    gh.add_installation(77, 4242);
    gh.require_token(Some("unused-pat"));
    gh.repo("acme", "widgets").add_issue(NewIssue::new("one"));

    let app = Octocrab::builder()
        .base_uri(gh.url())
        .unwrap()
        .app(
            AppId(4242),
            octocrab::EncodingKey::from_rsa_pem(APP_KEY.as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let installation = app.installation(InstallationId(77)).unwrap();
    let page = installation
        .issues("acme", "widgets")
        .list()
        .send()
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    installation
        .issues("acme", "widgets")
        .list()
        .send()
        .await
        .unwrap();
    assert_eq!(gh.mint_count(), 1, "octocrab caches the installation token");
    let minted = &gh.minted_tokens()[0].token;
    let list = gh
        .requests()
        .into_iter()
        .filter(|r| r.api_path == "/repos/acme/widgets/issues")
        .collect::<Vec<_>>();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list[0].authorization.as_deref(),
        Some(format!("Bearer {minted}").as_str())
    );
}
