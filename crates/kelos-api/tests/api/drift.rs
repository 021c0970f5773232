//! The committed CRDs are exactly what the types generate.

use std::collections::BTreeSet;

use crate::repo_root;

#[test]
fn committed_crds_match_the_types() {
    for dir in ["config/crd", "charts/kelos/crds"] {
        let dir_path = repo_root().join(dir);
        let mut expected_files = BTreeSet::new();
        for crd in kelos_api::crds() {
            let name = kelos_api::crd::file_name(&crd);
            let path = dir_path.join(&name);
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == kelos_api::crd::to_yaml(&crd),
                "{dir}/{name} is out of date with crates/kelos-api: run `make crds`"
            );
            expected_files.insert(name);
        }
        let present: BTreeSet<String> = std::fs::read_dir(&dir_path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            present, expected_files,
            "{dir} holds files the types do not generate: run `make crds` and remove stale ones"
        );
    }
}
