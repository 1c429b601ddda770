//! Writes the PodEIP CustomResourceDefinition as YAML to stdout (`make crds` redirects it to
//! `deploy/crds/podeips.yaml`; a test fails when that file drifts from the type).

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let yaml = eip_core::podeip::crd_yaml()?;
    std::io::stdout().lock().write_all(yaml.as_bytes())?;
    Ok(())
}
