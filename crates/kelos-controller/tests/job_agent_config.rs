//! AgentConfig injection (reference §3.6): agentsMD, plugins, skills, MCP servers with
//! resolved Secrets, name validation and the error messages. Expected values are literals.

#[path = "support/job_json.rs"]
mod job_json;

use std::collections::BTreeMap;

use kelos_api::{AgentConfigSpec, Task, WorkspaceSpec};
use kelos_controller::job::{
    JobBuildError, JobImages, JobInputs, build_job, mcp_secret_names, resolve_mcp_secrets,
};
use serde_json::{Value, json};

use job_json::{agent, env_names, init, init_names, pod};

fn task(agent_type: &str) -> Task {
    serde_json::from_value(json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "Task",
        "metadata": {"name": "t1", "namespace": "ns"},
        "spec": {
            "type": agent_type,
            "prompt": "p",
            "credentials": {"type": "api-key", "secretRef": {"name": "creds"}},
            "agentConfigRef": {"name": "ac"},
            "podOverrides": {"env": [
                {"name": "KELOS_MCP_SERVERS", "value": "forged"},
                {"name": "USER_VAR", "value": "u"}
            ]}
        }
    }))
    .unwrap()
}

fn config(v: Value) -> AgentConfigSpec {
    serde_json::from_value(v).unwrap()
}

fn try_build(
    t: &Task,
    ws: Option<&WorkspaceSpec>,
    ac: &AgentConfigSpec,
) -> Result<Value, JobBuildError> {
    build_job(&JobInputs {
        task: t,
        workspace: ws,
        agent_config: Some(ac),
        prompt: "p",
        github_token_secret: None,
        images: &JobImages::default(),
    })
    .map(|j| serde_json::to_value(j).unwrap())
}

fn secret(pairs: &[(&str, &[(&str, &str)])]) -> BTreeMap<String, BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|(name, data)| {
            (
                name.to_string(),
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn agents_md_only() {
    let job = try_build(
        &task("codex"),
        None,
        &config(json!({"agentsMD": "# Be careful"})),
    )
    .unwrap();
    assert_eq!(
        agent(&job)["env"],
        json!([
            {"name": "KELOS_AGENT_TYPE", "value": "codex"},
            {"name": "CODEX_API_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "CODEX_API_KEY"}}},
            {"name": "KELOS_AGENTS_MD", "value": "# Be careful"},
            {"name": "KELOS_MCP_SERVERS", "value": "forged"},
            {"name": "USER_VAR", "value": "u"}
        ])
    );
    assert!(pod(&job).get("initContainers").is_none());
    assert!(pod(&job).get("volumes").is_none());
    assert!(agent(&job).get("volumeMounts").is_none());
}

#[test]
fn plugins_and_skills_without_workspace() {
    let ac = config(json!({
        "agentsMD": "md",
        "plugins": [{
            "name": "review",
            "skills": [{"name": "careful", "content": "Review carefully."}],
            "agents": [{"name": "reviewer", "content": "You are a reviewer."}]
        }],
        "skills": [
            {"source": "acme/skills"},
            {"source": "o'neil/pack", "skill": "lint"}
        ]
    }));
    let job = try_build(&task("gemini"), None, &ac).unwrap();
    let plugin_script = [
        "set -eu",
        "mkdir -p '/kelos/plugin/review/skills/careful'",
        "printf '%s' 'UmV2aWV3IGNhcmVmdWxseS4=' | base64 -d > '/kelos/plugin/review/skills/careful/SKILL.md'",
        "mkdir -p '/kelos/plugin/review/agents'",
        "printf '%s' 'WW91IGFyZSBhIHJldmlld2VyLg==' | base64 -d > '/kelos/plugin/review/agents/reviewer.md'",
    ]
    .join("\n");
    let skills_script = [
        "set -eu",
        "apk add --no-cache git >/dev/null 2>&1",
        "npx -y skills add 'acme/skills' -a 'gemini' -y -g",
        r#"npx -y skills add 'o'"'"'neil/pack' -a 'gemini' -y -g -s 'lint'"#,
        "chown -R 61100:61100 '/kelos/plugin'",
    ]
    .join("\n");
    let plugin_mount = json!({"name": "kelos-plugin", "mountPath": "/kelos/plugin"});
    assert_eq!(
        pod(&job)["initContainers"],
        json!([
            {
                "name": "plugin-setup",
                "image": "alpine/git:v2.47.2",
                "command": ["sh", "-c", plugin_script],
                "volumeMounts": [plugin_mount],
                "securityContext": {"runAsUser": 61100}
            },
            {
                "name": "skills-install",
                "image": "node:22.14.0-alpine",
                "command": ["sh", "-c", skills_script],
                "env": [{"name": "HOME", "value": "/kelos/plugin"}],
                "volumeMounts": [plugin_mount]
            }
        ])
    );
    assert_eq!(
        pod(&job)["volumes"],
        json!([{"name": "kelos-plugin", "emptyDir": {}}])
    );
    assert_eq!(agent(&job)["volumeMounts"], json!([plugin_mount]));
    assert!(
        pod(&job).get("securityContext").is_none(),
        "fsGroup only with a workspace"
    );
    assert!(agent(&job).get("workingDir").is_none());
    assert_eq!(
        agent(&job)["env"].as_array().unwrap()[2..4],
        [
            json!({"name": "KELOS_AGENTS_MD", "value": "md"}),
            json!({"name": "KELOS_PLUGIN_DIR", "value": "/kelos/plugin"})
        ]
    );
}

#[test]
fn plugin_init_containers_follow_the_workspace_ones() {
    let ws: WorkspaceSpec = serde_json::from_value(json!({
        "repo": "https://github.com/a/b",
        "files": [{"path": "x", "content": "y"}]
    }))
    .unwrap();
    let ac = config(json!({"skills": [{"source": "a/b"}], "plugins": [{"name": "p"}]}));
    let job = try_build(&task("claude-code"), Some(&ws), &ac).unwrap();
    assert_eq!(
        init_names(&job),
        [
            "git-clone",
            "workspace-files",
            "plugin-setup",
            "skills-install"
        ]
    );
    assert_eq!(
        pod(&job)["volumes"],
        json!([{"name": "workspace", "emptyDir": {}}, {"name": "kelos-plugin", "emptyDir": {}}])
    );
    assert_eq!(
        agent(&job)["volumeMounts"],
        json!([
            {"name": "workspace", "mountPath": "/workspace"},
            {"name": "kelos-plugin", "mountPath": "/kelos/plugin"}
        ])
    );
    // A plugin without skills or agents writes nothing.
    assert_eq!(pod(&job)["initContainers"][2]["command"][2], "set -eu");
}

#[test]
fn skills_alone_get_the_plugin_volume_but_no_plugin_setup() {
    let job = try_build(
        &task("cursor"),
        None,
        &config(json!({"skills": [{"source": "a/b", "skill": ""}]})),
    )
    .unwrap();
    let init = init(&job);
    assert_eq!(init.len(), 1);
    assert_eq!(init[0]["name"], "skills-install");
    assert_eq!(
        init[0]["command"][2],
        "set -eu\napk add --no-cache git >/dev/null 2>&1\nnpx -y skills add 'a/b' -a 'cursor' -y -g\nchown -R 61100:61100 '/kelos/plugin'"
    );
    assert_eq!(
        agent(&job)["env"][2],
        json!({"name": "KELOS_PLUGIN_DIR", "value": "/kelos/plugin"})
    );
}

#[test]
fn bad_plugin_skill_and_agent_names() {
    for (ac, message) in [
        (
            json!({"plugins": [{"name": ""}]}),
            "invalid plugin configuration: plugin name is empty",
        ),
        (
            json!({"plugins": [{"name": "a/b"}]}),
            r#"invalid plugin configuration: plugin name "a/b" contains path separators"#,
        ),
        (
            json!({"plugins": [{"name": ".."}]}),
            r#"invalid plugin configuration: plugin name ".." is a path traversal"#,
        ),
        (
            json!({"plugins": [{"name": "p", "skills": [{"name": r"a\b", "content": "c"}]}]}),
            r#"invalid plugin configuration: skill name "a\\b" contains path separators"#,
        ),
        (
            json!({"plugins": [{"name": "p", "agents": [{"name": ".", "content": "c"}]}]}),
            r#"invalid plugin configuration: agent name "." is a path traversal"#,
        ),
        (
            json!({"skills": [{"source": ""}]}),
            "invalid skills configuration: skills.sh source is empty",
        ),
    ] {
        let err = try_build(&task("codex"), None, &config(ac.clone())).unwrap_err();
        assert_eq!(err.to_string(), message, "{ac}");
    }
}

#[test]
fn mcp_servers_json_is_sorted_and_omits_empty_fields() {
    let ac = config(json!({"mcpServers": [
        {"name": "zeta", "type": "http", "url": "https://mcp.example/api?a=1&b=<2>",
         "headers": {"X-B": "2", "Authorization": "Bearer inline"}},
        {"name": "alpha", "type": "stdio", "command": "npx", "args": ["-y", "server"],
         "env": {"Z": "1", "A": "2"}},
        {"name": "empty", "type": "sse", "args": [], "headers": {}, "url": ""}
    ]}));
    let job = try_build(&task("claude-code"), None, &ac).unwrap();
    let expected = concat!(
        r#"{"mcpServers":{"#,
        r#""alpha":{"type":"stdio","command":"npx","args":["-y","server"],"env":{"A":"2","Z":"1"}},"#,
        r#""empty":{"type":"sse"},"#,
        r#""zeta":{"type":"http","url":"https://mcp.example/api?a=1\u0026b=\u003c2\u003e","headers":{"Authorization":"Bearer inline","X-B":"2"}}"#,
        r#"}}"#
    );
    assert_eq!(
        agent(&job)["env"][2],
        json!({"name": "KELOS_MCP_SERVERS", "value": expected})
    );
    // The user's KELOS_MCP_SERVERS is dropped, their other variable kept.
    assert_eq!(
        agent(&job)["env"][3],
        json!({"name": "USER_VAR", "value": "u"})
    );
    assert_eq!(agent(&job)["env"].as_array().unwrap().len(), 4);
}

#[test]
fn mcp_secrets_are_resolved_with_secret_values_winning() {
    let ac = config(json!({"mcpServers": [
        {"name": "github", "type": "http", "url": "https://api.example/mcp",
         "headers": {"Authorization": "inline", "X-Keep": "k"},
         "headersFrom": {"secretRef": {"name": "mcp-headers"}}},
        {"name": "db", "type": "stdio", "command": "db-mcp",
         "env": {"DB_HOST": "inline-host"},
         "envFrom": {"secretRef": {"name": "mcp-env"}}}
    ]}));
    assert_eq!(
        mcp_secret_names(&ac).into_iter().collect::<Vec<_>>(),
        ["mcp-env", "mcp-headers"]
    );
    let secrets = secret(&[
        ("mcp-headers", &[("Authorization", "Bearer s3cr3t")]),
        (
            "mcp-env",
            &[("DB_HOST", "db.internal"), ("DB_PASSWORD", "hunter2")],
        ),
    ]);
    let resolved = resolve_mcp_secrets(&ac, &secrets).unwrap();
    assert_eq!(
        serde_json::to_value(&resolved).unwrap(),
        json!({"mcpServers": [
            {"name": "github", "type": "http", "url": "https://api.example/mcp",
             "headers": {"Authorization": "Bearer s3cr3t", "X-Keep": "k"}},
            {"name": "db", "type": "stdio", "command": "db-mcp",
             "env": {"DB_HOST": "db.internal", "DB_PASSWORD": "hunter2"}}
        ]})
    );
    let job = try_build(&task("codex"), None, &resolved).unwrap();
    assert_eq!(
        agent(&job)["env"][2]["value"],
        r#"{"mcpServers":{"db":{"type":"stdio","command":"db-mcp","env":{"DB_HOST":"db.internal","DB_PASSWORD":"hunter2"}},"github":{"type":"http","url":"https://api.example/mcp","headers":{"Authorization":"Bearer s3cr3t","X-Keep":"k"}}}}"#
    );
}

#[test]
fn missing_mcp_secret_names_the_secret_not_its_values() {
    let ac = config(json!({"mcpServers": [
        {"name": "ok", "type": "http", "headersFrom": {"secretRef": {"name": "present"}}},
        {"name": "db", "type": "stdio", "envFrom": {"secretRef": {"name": "absent"}}}
    ]}));
    let secrets = secret(&[("present", &[("Authorization", "Bearer s3cr3t")])]);
    let err = resolve_mcp_secrets(&ac, &secrets).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"fetching envFrom secret "absent" for MCP server "db": secret not found"#
    );
    assert!(!format!("{err:?}").contains("s3cr3t"));

    let ac = config(json!({"mcpServers": [
        {"name": "h", "type": "http", "headersFrom": {"secretRef": {"name": "gone"}}}
    ]}));
    assert_eq!(
        resolve_mcp_secrets(&ac, &BTreeMap::new())
            .unwrap_err()
            .to_string(),
        r#"fetching headersFrom secret "gone" for MCP server "h": secret not found"#
    );
}

#[test]
fn bad_and_duplicate_mcp_names() {
    for (servers, message) in [
        (
            json!([{"name": "", "type": "stdio"}]),
            "invalid MCP server configuration: MCP server name is empty",
        ),
        (
            json!([{"name": "a/b", "type": "stdio"}]),
            r#"invalid MCP server configuration: MCP server name "a/b" contains path separators"#,
        ),
        (
            json!([{"name": "..", "type": "stdio"}]),
            r#"invalid MCP server configuration: MCP server name ".." is a path traversal"#,
        ),
        (
            json!([{"name": "x", "type": "stdio"}, {"name": "y", "type": "http"}, {"name": "x", "type": "sse"}]),
            r#"invalid MCP server configuration: duplicate MCP server name "x""#,
        ),
    ] {
        let err = try_build(
            &task("gemini"),
            None,
            &config(json!({"mcpServers": servers})),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn agent_config_env_order_with_everything() {
    let ac = config(json!({
        "agentsMD": "md",
        "plugins": [{"name": "p"}],
        "mcpServers": [{"name": "m", "type": "stdio", "command": "c"}]
    }));
    let job = try_build(&task("opencode"), None, &ac).unwrap();
    assert_eq!(
        env_names(&job),
        [
            "KELOS_AGENT_TYPE",
            "OPENCODE_API_KEY",
            "KELOS_AGENTS_MD",
            "KELOS_PLUGIN_DIR",
            "KELOS_MCP_SERVERS",
            "USER_VAR"
        ]
    );
}

#[test]
fn empty_agent_config_changes_nothing() {
    let job = try_build(
        &task("codex"),
        None,
        &config(json!({"agentsMD": "", "plugins": [], "skills": [], "mcpServers": []})),
    )
    .unwrap();
    assert!(pod(&job).get("initContainers").is_none());
    assert!(pod(&job).get("volumes").is_none());
    assert_eq!(agent(&job)["env"].as_array().unwrap().len(), 4);
}
