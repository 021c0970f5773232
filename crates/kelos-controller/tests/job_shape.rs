//! Job shape without a workspace: one test per agent type × credential type against the
//! reference's Job (§3.1–3.3), images and pull policies, `KELOS_TASKSPAWNER`, podOverrides.
//! Expected Jobs are JSON literals, never the builder's own output.

#[path = "support/job_json.rs"]
mod job_json;

use kelos_api::{AgentType, Task};
use kelos_controller::job::{AgentImage, JobImages, JobInputs, build_job};
use serde_json::{Value, json};

use job_json::{agent, env_names, pod};

fn task(manifest: Value) -> Task {
    serde_json::from_value(manifest).expect("valid Task manifest")
}

fn simple_task(agent_type: &str, credential_type: &str) -> Task {
    task(json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "Task",
        "metadata": {"name": "fix-bug", "namespace": "team-a", "uid": "u-1"},
        "spec": {
            "type": agent_type,
            "prompt": "raw prompt",
            "credentials": {"type": credential_type, "secretRef": {"name": "agent-creds"}}
        }
    }))
}

fn build(task: &Task, images: &JobImages, prompt: &str) -> Value {
    let job = build_job(&JobInputs {
        task,
        workspace: None,
        agent_config: None,
        prompt,
        github_token_secret: None,
        images,
    })
    .expect("job builds");
    serde_json::to_value(job).unwrap()
}

/// The reference's Job for a Task without workspace, AgentConfig or overrides.
fn expected_plain_job(container: &str, image: &str, credential_env: &str) -> Value {
    let labels = json!({
        "app.kubernetes.io/name": "kelos",
        "app.kubernetes.io/component": "task",
        "app.kubernetes.io/managed-by": "kelos-controller",
        "kelos.dev/task": "fix-bug"
    });
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "fix-bug", "namespace": "team-a", "labels": labels},
        "spec": {
            "backoffLimit": 1,
            "podFailurePolicy": {"rules": [
                {"action": "Count", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                {"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [0]}}
            ]},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": container,
                        "image": image,
                        "command": ["/kelos_entrypoint.sh"],
                        "args": ["the resolved prompt"],
                        "env": [
                            {"name": "KELOS_AGENT_TYPE", "value": container},
                            {"name": credential_env, "valueFrom": {"secretKeyRef": {
                                "name": "agent-creds", "key": credential_env
                            }}}
                        ]
                    }]
                }
            }
        }
    })
}

macro_rules! agent_credential_case {
    ($name:ident, $agent:literal, $cred:literal, $image:literal, $env:literal) => {
        #[test]
        fn $name() {
            let t = simple_task($agent, $cred);
            let got = build(&t, &JobImages::default(), "the resolved prompt");
            assert_eq!(got, expected_plain_job($agent, $image, $env));
        }
    };
}

agent_credential_case!(
    claude_code_api_key,
    "claude-code",
    "api-key",
    "ghcr.io/kelos-dev/claude-code:latest",
    "ANTHROPIC_API_KEY"
);
agent_credential_case!(
    claude_code_oauth,
    "claude-code",
    "oauth",
    "ghcr.io/kelos-dev/claude-code:latest",
    "CLAUDE_CODE_OAUTH_TOKEN"
);
agent_credential_case!(
    codex_api_key,
    "codex",
    "api-key",
    "ghcr.io/kelos-dev/codex:latest",
    "CODEX_API_KEY"
);
agent_credential_case!(
    codex_oauth,
    "codex",
    "oauth",
    "ghcr.io/kelos-dev/codex:latest",
    "CODEX_AUTH_JSON"
);
agent_credential_case!(
    gemini_api_key,
    "gemini",
    "api-key",
    "ghcr.io/kelos-dev/gemini:latest",
    "GEMINI_API_KEY"
);
agent_credential_case!(
    gemini_oauth,
    "gemini",
    "oauth",
    "ghcr.io/kelos-dev/gemini:latest",
    "GEMINI_API_KEY"
);
agent_credential_case!(
    opencode_api_key,
    "opencode",
    "api-key",
    "ghcr.io/kelos-dev/opencode:latest",
    "OPENCODE_API_KEY"
);
agent_credential_case!(
    opencode_oauth,
    "opencode",
    "oauth",
    "ghcr.io/kelos-dev/opencode:latest",
    "OPENCODE_API_KEY"
);
agent_credential_case!(
    cursor_api_key,
    "cursor",
    "api-key",
    "ghcr.io/kelos-dev/cursor:latest",
    "CURSOR_API_KEY"
);
agent_credential_case!(
    cursor_oauth,
    "cursor",
    "oauth",
    "ghcr.io/kelos-dev/cursor:latest",
    "CURSOR_API_KEY"
);

#[test]
fn flag_images_and_pull_policies_apply_per_type() {
    let mut images = JobImages {
        codex: AgentImage {
            image: "registry.local/codex:v2".into(),
            pull_policy: Some("Always".into()),
        },
        ..JobImages::default()
    };
    images.for_agent_mut(AgentType::Gemini).pull_policy = Some(String::new());

    let codex = build(&simple_task("codex", "api-key"), &images, "p");
    assert_eq!(agent(&codex)["image"], "registry.local/codex:v2");
    assert_eq!(agent(&codex)["imagePullPolicy"], "Always");

    // An empty policy leaves the field unset, as does no policy.
    let gemini = build(&simple_task("gemini", "api-key"), &images, "p");
    assert!(agent(&gemini).get("imagePullPolicy").is_none());
    let claude = build(&simple_task("claude-code", "api-key"), &images, "p");
    assert!(agent(&claude).get("imagePullPolicy").is_none());
}

#[test]
fn custom_image_keeps_the_type_pull_policy() {
    let mut images = JobImages::default();
    images.claude_code.pull_policy = Some("IfNotPresent".into());
    let mut t = simple_task("claude-code", "oauth");
    t.spec.image = Some("my.registry/agent:dev".into());
    let job = build(&t, &images, "p");
    let c = agent(&job);
    assert_eq!(c["name"], "claude-code");
    assert_eq!(c["image"], "my.registry/agent:dev");
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
}

#[test]
fn default_images_are_the_reference_ones() {
    let images = JobImages::default();
    for (agent, image) in [
        (
            AgentType::ClaudeCode,
            "ghcr.io/kelos-dev/claude-code:latest",
        ),
        (AgentType::Codex, "ghcr.io/kelos-dev/codex:latest"),
        (AgentType::Gemini, "ghcr.io/kelos-dev/gemini:latest"),
        (AgentType::Opencode, "ghcr.io/kelos-dev/opencode:latest"),
        (AgentType::Cursor, "ghcr.io/kelos-dev/cursor:latest"),
    ] {
        assert_eq!(images.for_agent(agent).image, image);
        assert_eq!(images.for_agent(agent).pull_policy, None);
    }
}

#[test]
fn model_branch_and_taskspawner_label_come_first_in_order() {
    let t = task(json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "Task",
        "metadata": {"name": "fix-bug", "namespace": "team-a",
                     "labels": {"kelos.dev/taskspawner": "issues-bot", "other": "x"}},
        "spec": {
            "type": "codex",
            "prompt": "p",
            "model": "gpt-5",
            "branch": "kelos/fix-bug",
            "credentials": {"type": "oauth", "secretRef": {"name": "c"}}
        }
    }));
    let job = build(&t, &JobImages::default(), "p");
    assert_eq!(
        agent(&job)["env"],
        json!([
            {"name": "KELOS_MODEL", "value": "gpt-5"},
            {"name": "KELOS_BRANCH", "value": "kelos/fix-bug"},
            {"name": "KELOS_AGENT_TYPE", "value": "codex"},
            {"name": "KELOS_TASKSPAWNER", "value": "issues-bot"},
            {"name": "CODEX_AUTH_JSON", "valueFrom": {"secretKeyRef": {"name": "c", "key": "CODEX_AUTH_JSON"}}}
        ])
    );
    // A branch without a workspace sets the variable but adds no init container.
    let pod = pod(&job);
    assert!(pod.get("initContainers").is_none());
    assert!(pod.get("securityContext").is_none());
    assert!(pod.get("volumes").is_none());
    assert!(agent(&job).get("workingDir").is_none());
}

#[test]
fn no_taskspawner_variable_without_the_label_or_with_an_empty_one() {
    let mut t = simple_task("cursor", "api-key");
    assert!(!env_names(&build(&t, &JobImages::default(), "p")).contains(&"KELOS_TASKSPAWNER"));
    t.metadata.labels = Some([("kelos.dev/taskspawner".to_string(), String::new())].into());
    assert!(!env_names(&build(&t, &JobImages::default(), "p")).contains(&"KELOS_TASKSPAWNER"));
}

#[test]
fn job_has_no_owner_reference_and_task_name() {
    let job = build_job(&JobInputs {
        task: &simple_task("gemini", "api-key"),
        workspace: None,
        agent_config: None,
        prompt: "p",
        github_token_secret: None,
        images: &JobImages::default(),
    })
    .unwrap();
    assert_eq!(job.metadata.name.as_deref(), Some("fix-bug"));
    assert_eq!(job.metadata.namespace.as_deref(), Some("team-a"));
    assert!(job.metadata.owner_references.is_none());
    assert!(job.metadata.annotations.is_none());
    let spec = job.spec.unwrap();
    assert!(spec.ttl_seconds_after_finished.is_none());
    assert!(spec.completions.is_none() && spec.parallelism.is_none() && spec.suspend.is_none());
    assert!(spec.template.spec.unwrap().service_account_name.is_none());
}

#[test]
fn prompt_is_the_only_argument_verbatim() {
    let prompt = "Fix it.\nUse 'quotes' and \"doubles\" and $HOME; {{index .Deps}}";
    let job = build(
        &simple_task("opencode", "api-key"),
        &JobImages::default(),
        prompt,
    );
    assert_eq!(agent(&job)["args"], json!([prompt]));
}

#[test]
fn pod_overrides_apply_and_built_in_env_wins() {
    let t = task(json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "Task",
        "metadata": {"name": "fix-bug", "namespace": "team-a",
                     "labels": {"kelos.dev/taskspawner": "bot"}},
        "spec": {
            "type": "claude-code",
            "prompt": "p",
            "model": "opus",
            "credentials": {"type": "api-key", "secretRef": {"name": "c"}},
            "podOverrides": {
                "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "500m"}},
                "activeDeadlineSeconds": 3600,
                "nodeSelector": {"pool": "agents"},
                "env": [
                    {"name": "KELOS_MODEL", "value": "forged"},
                    {"name": "EXTRA", "value": "1"},
                    {"name": "ANTHROPIC_API_KEY", "value": "forged"},
                    {"name": "KELOS_TASKSPAWNER", "value": "forged"},
                    {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
                ]
            }
        }
    }));
    let job = build(&t, &JobImages::default(), "p");
    assert_eq!(
        agent(&job)["env"],
        json!([
            {"name": "KELOS_MODEL", "value": "opus"},
            {"name": "KELOS_AGENT_TYPE", "value": "claude-code"},
            {"name": "KELOS_TASKSPAWNER", "value": "bot"},
            {"name": "ANTHROPIC_API_KEY", "valueFrom": {"secretKeyRef": {"name": "c", "key": "ANTHROPIC_API_KEY"}}},
            {"name": "EXTRA", "value": "1"},
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
        ])
    );
    assert_eq!(
        agent(&job)["resources"],
        json!({"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "500m"}})
    );
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 3600);
    assert_eq!(pod(&job)["nodeSelector"], json!({"pool": "agents"}));
}

#[test]
fn override_env_may_set_a_name_the_builder_did_not_use() {
    // GH_TOKEN is built in only with an authenticated workspace; without one a user may set it.
    let mut t = simple_task("codex", "api-key");
    t.spec.pod_overrides = Some(
        serde_json::from_value(json!({
            "env": [{"name": "GH_TOKEN", "value": "x"}, {"name": "KELOS_AGENT_TYPE", "value": "y"}]
        }))
        .unwrap(),
    );
    let job = build(&t, &JobImages::default(), "p");
    assert_eq!(
        env_names(&job),
        ["KELOS_AGENT_TYPE", "CODEX_API_KEY", "GH_TOKEN"]
    );
    assert_eq!(agent(&job)["env"][0]["value"], "codex");
}
