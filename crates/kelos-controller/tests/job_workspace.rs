//! Job shape with a Workspace (reference §3.2–3.4): plain, ref, PAT secretRef, GitHub App
//! token Secret, GitHub Enterprise, remotes, branch, files (and bad paths). Expected values
//! are literals.

#[path = "support/job_json.rs"]
mod job_json;

use kelos_api::{Task, WorkspaceSpec};
use kelos_controller::job::{JobBuildError, JobImages, JobInputs, build_job};
use serde_json::{Value, json};

use job_json::{agent, init, init_names, pod};

const CLONE_SCRIPT: &str = r#"git -c credential.helper= -c credential.helper='!f() { echo "username=x-access-token"; echo "password=$GITHUB_TOKEN"; }; f' "$@" && { git -C /workspace/repo config --unset-all credential.helper 2>/dev/null || true; git -C /workspace/repo config --add credential.helper '!f() { echo "username=x-access-token"; echo "password=$GITHUB_TOKEN"; }; f'; }"#;
const BRANCH_SCRIPT: &str = r#"cd /workspace/repo && git fetch origin "$KELOS_BRANCH":"$KELOS_BRANCH" 2>/dev/null; if git rev-parse --verify refs/heads/"$KELOS_BRANCH" >/dev/null 2>&1; then git checkout "$KELOS_BRANCH"; else git checkout -b "$KELOS_BRANCH"; fi"#;
const BRANCH_SCRIPT_AUTH: &str = r#"cd /workspace/repo && git -c credential.helper= -c credential.helper='!f() { echo "username=x-access-token"; echo "password=$GITHUB_TOKEN"; }; f' fetch origin "$KELOS_BRANCH":"$KELOS_BRANCH" 2>/dev/null; if git rev-parse --verify refs/heads/"$KELOS_BRANCH" >/dev/null 2>&1; then git checkout "$KELOS_BRANCH"; else git checkout -b "$KELOS_BRANCH"; fi"#;

fn task(spec_extra: Value) -> Task {
    let mut spec = json!({
        "type": "claude-code",
        "prompt": "p",
        "credentials": {"type": "api-key", "secretRef": {"name": "creds"}},
        "workspaceRef": {"name": "ws"}
    });
    for (k, v) in spec_extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "Task",
        "metadata": {"name": "t1", "namespace": "ns"},
        "spec": spec
    }))
    .unwrap()
}

fn workspace(v: Value) -> WorkspaceSpec {
    serde_json::from_value(v).unwrap()
}

fn try_build(
    t: &Task,
    ws: &WorkspaceSpec,
    token_secret: Option<&str>,
) -> Result<Value, JobBuildError> {
    build_job(&JobInputs {
        task: t,
        workspace: Some(ws),
        agent_config: None,
        prompt: "p",
        github_token_secret: token_secret,
        images: &JobImages::default(),
    })
    .map(|j| serde_json::to_value(j).unwrap())
}

fn build(t: &Task, ws: &WorkspaceSpec) -> Value {
    try_build(t, ws, None).expect("job builds")
}

fn secret_ref(name: &str, secret: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
}

#[test]
fn plain_public_workspace() {
    let job = build(
        &task(json!({})),
        &workspace(json!({"repo": "https://github.com/acme/widgets.git"})),
    );
    assert_eq!(pod(&job)["securityContext"], json!({"fsGroup": 61100}));
    assert_eq!(
        pod(&job)["volumes"],
        json!([{"name": "workspace", "emptyDir": {}}])
    );
    assert_eq!(
        pod(&job)["initContainers"],
        json!([{
            "name": "git-clone",
            "image": "alpine/git:v2.47.2",
            "args": ["clone", "--no-single-branch", "--depth", "1", "--",
                     "https://github.com/acme/widgets.git", "/workspace/repo"],
            "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
            "securityContext": {"runAsUser": 61100}
        }])
    );
    assert_eq!(
        agent(&job)["volumeMounts"],
        json!([{"name": "workspace", "mountPath": "/workspace"}])
    );
    assert_eq!(agent(&job)["workingDir"], "/workspace/repo");
    assert_eq!(
        agent(&job)["env"],
        json!([
            {"name": "KELOS_AGENT_TYPE", "value": "claude-code"},
            secret_ref("ANTHROPIC_API_KEY", "creds", "ANTHROPIC_API_KEY")
        ])
    );
}

#[test]
fn ref_clones_that_branch_and_sets_base_branch() {
    let job = build(
        &task(json!({})),
        &workspace(json!({"repo": "git@github.com:acme/widgets.git", "ref": "release-1.2"})),
    );
    assert_eq!(
        init(&job)[0]["args"],
        json!([
            "clone",
            "--branch",
            "release-1.2",
            "--no-single-branch",
            "--depth",
            "1",
            "--",
            "git@github.com:acme/widgets.git",
            "/workspace/repo"
        ])
    );
    assert_eq!(
        agent(&job)["env"][2],
        json!({"name": "KELOS_BASE_BRANCH", "value": "release-1.2"})
    );
}

#[test]
fn pat_secret_ref_authenticates_clone_and_agent() {
    let job = build(
        &task(json!({})),
        &workspace(
            json!({"repo": "https://github.com/acme/widgets", "secretRef": {"name": "gh-pat"}}),
        ),
    );
    assert_eq!(
        init(&job)[0],
        json!({
            "name": "git-clone",
            "image": "alpine/git:v2.47.2",
            "command": ["sh", "-c", CLONE_SCRIPT],
            "args": ["--", "clone", "--no-single-branch", "--depth", "1", "--",
                     "https://github.com/acme/widgets", "/workspace/repo"],
            "env": [
                secret_ref("GITHUB_TOKEN", "gh-pat", "GITHUB_TOKEN"),
                secret_ref("GH_TOKEN", "gh-pat", "GITHUB_TOKEN")
            ],
            "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
            "securityContext": {"runAsUser": 61100}
        })
    );
    assert_eq!(
        agent(&job)["env"],
        json!([
            {"name": "KELOS_AGENT_TYPE", "value": "claude-code"},
            secret_ref("ANTHROPIC_API_KEY", "creds", "ANTHROPIC_API_KEY"),
            secret_ref("GITHUB_TOKEN", "gh-pat", "GITHUB_TOKEN"),
            secret_ref("GH_TOKEN", "gh-pat", "GITHUB_TOKEN"),
            {"name": "GH_CONFIG_DIR", "value": "/workspace/.gh-config"}
        ])
    );
}

#[test]
fn github_app_token_secret_replaces_the_workspace_secret() {
    let ws = workspace(
        json!({"repo": "https://github.com/acme/widgets", "secretRef": {"name": "gh-app"}}),
    );
    let job = try_build(&task(json!({})), &ws, Some("t1-github-token")).unwrap();
    let text = job.to_string();
    assert!(
        !text.contains("gh-app"),
        "the App secret must not be referenced: {text}"
    );
    assert_eq!(
        init(&job)[0]["env"][0],
        secret_ref("GITHUB_TOKEN", "t1-github-token", "GITHUB_TOKEN")
    );
    assert_eq!(
        agent(&job)["env"][3],
        secret_ref("GH_TOKEN", "t1-github-token", "GITHUB_TOKEN")
    );
    assert_eq!(
        kelos_controller::job::github_token_secret_name("t1"),
        "t1-github-token"
    );
}

#[test]
fn github_enterprise_sets_gh_host_and_enterprise_token() {
    let job = build(
        &task(json!({"branch": "feature/x", "upstreamRepo": "corp/upstream"})),
        &workspace(json!({
            "repo": "https://ghe.corp.example/team/service.git",
            "ref": "main",
            "secretRef": {"name": "ghe-pat"}
        })),
    );
    let ws_env = json!([
        {"name": "GH_HOST", "value": "ghe.corp.example"},
        secret_ref("GITHUB_TOKEN", "ghe-pat", "GITHUB_TOKEN"),
        secret_ref("GH_ENTERPRISE_TOKEN", "ghe-pat", "GITHUB_TOKEN")
    ]);
    assert_eq!(init_names(&job), ["git-clone", "branch-setup"]);
    assert_eq!(init(&job)[0]["env"], ws_env);
    let mut branch_env = ws_env.as_array().unwrap().clone();
    branch_env.push(json!({"name": "KELOS_BRANCH", "value": "feature/x"}));
    assert_eq!(
        init(&job)[1],
        json!({
            "name": "branch-setup",
            "image": "alpine/git:v2.47.2",
            "command": ["sh", "-c", BRANCH_SCRIPT_AUTH],
            "env": branch_env,
            "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
            "securityContext": {"runAsUser": 61100}
        })
    );
    assert_eq!(
        agent(&job)["env"],
        json!([
            {"name": "KELOS_BRANCH", "value": "feature/x"},
            {"name": "KELOS_AGENT_TYPE", "value": "claude-code"},
            secret_ref("ANTHROPIC_API_KEY", "creds", "ANTHROPIC_API_KEY"),
            {"name": "GH_HOST", "value": "ghe.corp.example"},
            {"name": "KELOS_BASE_BRANCH", "value": "main"},
            {"name": "KELOS_UPSTREAM_REPO", "value": "corp/upstream"},
            secret_ref("GITHUB_TOKEN", "ghe-pat", "GITHUB_TOKEN"),
            secret_ref("GH_ENTERPRISE_TOKEN", "ghe-pat", "GITHUB_TOKEN"),
            {"name": "GH_CONFIG_DIR", "value": "/workspace/.gh-config"}
        ])
    );
}

#[test]
fn ghe_without_secret_still_sets_gh_host() {
    let job = build(
        &task(json!({})),
        &workspace(json!({"repo": "git@ghe.local:a/b.git"})),
    );
    assert_eq!(
        init(&job)[0]["env"],
        json!([{"name": "GH_HOST", "value": "ghe.local"}])
    );
    assert_eq!(
        agent(&job)["env"][2],
        json!({"name": "GH_HOST", "value": "ghe.local"})
    );
}

#[test]
fn branch_setup_without_secret_fetches_plainly() {
    let job = build(
        &task(json!({"branch": "kelos/issue-7"})),
        &workspace(json!({"repo": "https://github.com/a/b"})),
    );
    assert_eq!(
        init(&job)[1],
        json!({
            "name": "branch-setup",
            "image": "alpine/git:v2.47.2",
            "command": ["sh", "-c", BRANCH_SCRIPT],
            "env": [{"name": "KELOS_BRANCH", "value": "kelos/issue-7"}],
            "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
            "securityContext": {"runAsUser": 61100}
        })
    );
}

#[test]
fn remotes_are_set_up_quoted_and_upstream_gives_the_upstream_repo() {
    let ws = workspace(json!({
        "repo": "https://github.com/me/fork",
        "remotes": [
            {"name": "upstream", "url": "https://github.com/acme/widgets.git"},
            {"name": "o'brien", "url": "git@github.com:obrien/widgets.git"}
        ]
    }));
    let job = build(&task(json!({})), &ws);
    assert_eq!(init_names(&job), ["git-clone", "remote-setup"]);
    let script = "cd /workspace/repo && \
        if git remote get-url 'upstream' >/dev/null 2>&1; then git remote set-url 'upstream' 'https://github.com/acme/widgets.git'; else git remote add 'upstream' 'https://github.com/acme/widgets.git'; fi && \
        if git remote get-url 'o'\"'\"'brien' >/dev/null 2>&1; then git remote set-url 'o'\"'\"'brien' 'git@github.com:obrien/widgets.git'; else git remote add 'o'\"'\"'brien' 'git@github.com:obrien/widgets.git'; fi";
    assert_eq!(
        init(&job)[1],
        json!({
            "name": "remote-setup",
            "image": "alpine/git:v2.47.2",
            "command": ["sh", "-c", script],
            "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
            "securityContext": {"runAsUser": 61100}
        })
    );
    assert_eq!(
        agent(&job)["env"][2],
        json!({"name": "KELOS_UPSTREAM_REPO", "value": "acme/widgets"})
    );

    // spec.upstreamRepo wins over the remote.
    let job = build(&task(json!({"upstreamRepo": "other/repo"})), &ws);
    assert_eq!(
        agent(&job)["env"][2],
        json!({"name": "KELOS_UPSTREAM_REPO", "value": "other/repo"})
    );
}

#[test]
fn only_a_remote_named_exactly_upstream_counts() {
    let ws = workspace(json!({
        "repo": "https://github.com/me/fork",
        "remotes": [{"name": "Upstream", "url": "https://github.com/acme/widgets"}]
    }));
    let job = build(&task(json!({})), &ws);
    let names: Vec<&str> = agent(&job)["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"KELOS_UPSTREAM_REPO"));
}

#[test]
fn files_are_written_base64_after_the_branch() {
    let ws = workspace(json!({
        "repo": "https://github.com/a/b",
        "files": [
            {"path": "./docs//notes.md", "content": "Hello"},
            {"path": "CLAUDE.md", "content": "# Rules\nBe kind."},
            {"path": "a/../quote's.txt", "content": "it's"}
        ]
    }));
    let job = build(&task(json!({"branch": "x"})), &ws);
    assert_eq!(
        init_names(&job),
        ["git-clone", "branch-setup", "workspace-files"]
    );
    let script = [
        "set -eu",
        "target='/workspace/repo/docs/notes.md'",
        r#"mkdir -p "$(dirname "$target")""#,
        r#"printf '%s' 'SGVsbG8=' | base64 -d > "$target""#,
        "target='/workspace/repo/CLAUDE.md'",
        r#"mkdir -p "$(dirname "$target")""#,
        r#"printf '%s' 'IyBSdWxlcwpCZSBraW5kLg==' | base64 -d > "$target""#,
        r#"target='/workspace/repo/quote'"'"'s.txt'"#,
        r#"mkdir -p "$(dirname "$target")""#,
        r#"printf '%s' 'aXQncw==' | base64 -d > "$target""#,
    ]
    .join("\n");
    assert_eq!(
        init(&job)[2],
        json!({
            "name": "workspace-files",
            "image": "alpine/git:v2.47.2",
            "command": ["sh", "-c", script],
            "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
            "securityContext": {"runAsUser": 61100}
        })
    );
}

#[test]
fn bad_file_paths_fail_the_build_with_the_reference_messages() {
    for (path, message) in [
        ("", r#"invalid workspace file path "": path is empty"#),
        ("   ", r#"invalid workspace file path "   ": path is empty"#),
        (
            r"dir\file",
            r#"invalid workspace file path "dir\\file": path must use forward slashes"#,
        ),
        (
            "./",
            r#"invalid workspace file path "./": path resolves to current directory"#,
        ),
        (
            "a/..",
            r#"invalid workspace file path "a/..": path resolves to current directory"#,
        ),
        (
            "/etc/passwd",
            r#"invalid workspace file path "/etc/passwd": absolute paths are not allowed"#,
        ),
        (
            "..",
            r#"invalid workspace file path "..": path escapes repository root"#,
        ),
        (
            "../x",
            r#"invalid workspace file path "../x": path escapes repository root"#,
        ),
        (
            "a/../../x",
            r#"invalid workspace file path "a/../../x": path escapes repository root"#,
        ),
    ] {
        let ws = workspace(json!({
            "repo": "https://github.com/a/b",
            "files": [{"path": "ok.txt", "content": "secret-looking content"}, {"path": path, "content": "c"}]
        }));
        let err = try_build(&task(json!({})), &ws, None).unwrap_err();
        assert_eq!(err.to_string(), message, "path {path:?}");
        assert!(!err.to_string().contains("secret-looking"));
    }
}

#[test]
fn everything_at_once_in_order() {
    let ws = workspace(json!({
        "repo": "https://github.com/me/fork.git",
        "ref": "main",
        "secretRef": {"name": "pat"},
        "remotes": [{"name": "upstream", "url": "https://github.com/acme/widgets"}],
        "files": [{"path": "f", "content": "Hello"}]
    }));
    let t: Task = serde_json::from_value(json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "Task",
        "metadata": {"name": "t1", "namespace": "ns", "labels": {"kelos.dev/taskspawner": "sp"}},
        "spec": {
            "type": "gemini",
            "prompt": "p",
            "model": "gemini-3",
            "branch": "b",
            "credentials": {"type": "oauth", "secretRef": {"name": "creds"}},
            "workspaceRef": {"name": "ws"},
            "podOverrides": {"env": [{"name": "GH_CONFIG_DIR", "value": "/tmp"}, {"name": "X", "value": "y"}]}
        }
    }))
    .unwrap();
    let job = build(&t, &ws);
    assert_eq!(
        init_names(&job),
        [
            "git-clone",
            "remote-setup",
            "branch-setup",
            "workspace-files"
        ]
    );
    assert_eq!(
        agent(&job)["env"],
        json!([
            {"name": "KELOS_MODEL", "value": "gemini-3"},
            {"name": "KELOS_BRANCH", "value": "b"},
            {"name": "KELOS_AGENT_TYPE", "value": "gemini"},
            {"name": "KELOS_TASKSPAWNER", "value": "sp"},
            secret_ref("GEMINI_API_KEY", "creds", "GEMINI_API_KEY"),
            {"name": "KELOS_BASE_BRANCH", "value": "main"},
            {"name": "KELOS_UPSTREAM_REPO", "value": "acme/widgets"},
            secret_ref("GITHUB_TOKEN", "pat", "GITHUB_TOKEN"),
            secret_ref("GH_TOKEN", "pat", "GITHUB_TOKEN"),
            {"name": "GH_CONFIG_DIR", "value": "/workspace/.gh-config"},
            {"name": "X", "value": "y"}
        ])
    );
    // No init container gets GH_CONFIG_DIR, KELOS_MODEL or the agent credential.
    for c in init(&job) {
        for e in c["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap();
            assert!(
                [
                    "GH_HOST",
                    "GITHUB_TOKEN",
                    "GH_TOKEN",
                    "GH_ENTERPRISE_TOKEN",
                    "KELOS_BRANCH"
                ]
                .contains(&name),
                "{name}"
            );
        }
    }
}
