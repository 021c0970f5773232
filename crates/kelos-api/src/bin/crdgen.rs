//! Writes the Kelos CRDs as YAML into each `--out` directory (`make crds`).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut dirs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => dirs.push(PathBuf::from(args.next().expect("--out needs a directory"))),
            other => {
                eprintln!("usage: crdgen --out DIR [--out DIR ...] (unexpected {other:?})");
                std::process::exit(2);
            }
        }
    }
    if dirs.is_empty() {
        for crd in kelos_api::crds() {
            print!("{}", kelos_api::crd::to_yaml(&crd));
        }
        return Ok(());
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir)?;
        for crd in kelos_api::crds() {
            std::fs::write(
                dir.join(kelos_api::crd::file_name(&crd)),
                kelos_api::crd::to_yaml(&crd),
            )?;
        }
    }
    Ok(())
}
