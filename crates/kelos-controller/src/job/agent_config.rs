//! AgentConfig plugins and skills: the `plugin-setup` and `skills-install` init containers
//! (reference §3.6).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::Container;
use kelos_api::{AgentType, PluginSpec, SkillsShSpec};

use super::images::{GIT_CLONE_IMAGE, NODE_IMAGE};
use super::init_containers::{plain_env, run_as_agent, shell_container};
use super::text::{go_quote, shell_quote};
use super::{AGENT_UID, PLUGIN_MOUNT_PATH, plugin_mount};

/// Checks that a plugin, skill, agent or MCP server name is one safe path component:
/// non-empty, no `/` or `\`, not `.` or `..`. `kind` starts the message (`plugin name …`).
pub fn sanitize_component_name(name: &str, kind: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{kind} name is empty"));
    }
    if name.contains(['/', '\\']) {
        return Err(format!(
            "{kind} name {} contains path separators",
            go_quote(name)
        ));
    }
    if name == "." || name == ".." {
        return Err(format!(
            "{kind} name {} is a path traversal",
            go_quote(name)
        ));
    }
    Ok(())
}

fn base64_write(content: &str, target: &str) -> String {
    format!(
        "printf '%s' {} | base64 -d > {}",
        shell_quote(&STANDARD.encode(content)),
        shell_quote(target)
    )
}

/// The `plugin-setup` script: `set -eu`, then for every skill and agent of every plugin a
/// `mkdir -p` and a base64 write into `/kelos/plugin/<plugin>/skills/<skill>/SKILL.md` or
/// `/kelos/plugin/<plugin>/agents/<agent>.md`. Errors are the unwrapped name checks.
pub fn plugin_setup_script(plugins: &[PluginSpec]) -> Result<String, String> {
    let mut lines = vec!["set -eu".to_string()];
    for plugin in plugins {
        sanitize_component_name(&plugin.name, "plugin")?;
        for skill in plugin.skills.iter().flatten() {
            sanitize_component_name(&skill.name, "skill")?;
            let dir = format!("{PLUGIN_MOUNT_PATH}/{}/skills/{}", plugin.name, skill.name);
            lines.push(format!("mkdir -p {}", shell_quote(&dir)));
            lines.push(base64_write(&skill.content, &format!("{dir}/SKILL.md")));
        }
        for agent in plugin.agents.iter().flatten() {
            sanitize_component_name(&agent.name, "agent")?;
            let dir = format!("{PLUGIN_MOUNT_PATH}/{}/agents", plugin.name);
            lines.push(format!("mkdir -p {}", shell_quote(&dir)));
            lines.push(base64_write(
                &agent.content,
                &format!("{dir}/{}.md", agent.name),
            ));
        }
    }
    Ok(lines.join("\n"))
}

/// The `skills-install` script: installs git, runs
/// `npx -y skills add '<source>' -a '<agent type>' -y -g [-s '<skill>']` per entry, then
/// hands `/kelos/plugin` to the agent's UID.
pub fn skills_install_script(skills: &[SkillsShSpec], agent: AgentType) -> Result<String, String> {
    let mut lines = vec![
        "set -eu".to_string(),
        "apk add --no-cache git >/dev/null 2>&1".to_string(),
    ];
    for s in skills {
        if s.source.is_empty() {
            return Err("skills.sh source is empty".to_string());
        }
        let mut line = format!(
            "npx -y skills add {} -a {} -y -g",
            shell_quote(&s.source),
            shell_quote(agent.as_str())
        );
        if let Some(skill) = s.skill.as_deref().filter(|s| !s.is_empty()) {
            line.push_str(&format!(" -s {}", shell_quote(skill)));
        }
        lines.push(line);
    }
    lines.push(format!(
        "chown -R {AGENT_UID}:{AGENT_UID} {}",
        shell_quote(PLUGIN_MOUNT_PATH)
    ));
    Ok(lines.join("\n"))
}

/// `plugin-setup`: git image, UID 61100, only the plugin volume.
pub(crate) fn plugin_setup_container(plugins: &[PluginSpec]) -> Result<Container, String> {
    let script = plugin_setup_script(plugins)?;
    let mut c = shell_container(
        "plugin-setup",
        GIT_CLONE_IMAGE,
        script,
        vec![plugin_mount()],
    );
    c.security_context = Some(run_as_agent());
    Ok(c)
}

/// `skills-install`: node image, `HOME=/kelos/plugin`, no securityContext (runs as the image
/// user, so it can `apk add`).
pub(crate) fn skills_install_container(
    skills: &[SkillsShSpec],
    agent: AgentType,
) -> Result<Container, String> {
    let script = skills_install_script(skills, agent)?;
    let mut c = shell_container("skills-install", NODE_IMAGE, script, vec![plugin_mount()]);
    c.env = Some(vec![plain_env("HOME", PLUGIN_MOUNT_PATH)]);
    Ok(c)
}
