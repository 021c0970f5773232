//! GitHub App installation tokens for Workspaces whose Secret holds an App key.
