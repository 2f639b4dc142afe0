//! The tenant-bot image, built here from the repository alone (nothing can be pulled): a
//! statically linked `tenant-bot` binary in a `FROM scratch` image, sent to the engine as a
//! tar build context. Tagged `madar/tenant-bot:<version>`.

use std::path::{Path, PathBuf};

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;

pub const IMAGE_REPOSITORY: &str = "madar/tenant-bot";
/// The unprivileged user the bot runs as; it owns `/data` in the image, and so in every new
/// volume (Docker copies the image's `/data` ownership into an empty named volume).
pub const TENANT_USER: &str = "10001:10001";
/// Where `docker/build-tenant-bot.sh` puts the static binary, relative to the workspace.
pub const STATIC_BINARY_PATH: &str = "target/static/x86_64-unknown-linux-gnu/release/tenant-bot";
/// Overrides where the static binary is looked for.
pub const BINARY_ENV: &str = "MADAR_TENANT_BOT_BINARY";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(
        "the static tenant-bot binary was not found at {0}: run docker/build-tenant-bot.sh \
         (or set {BINARY_ENV})"
    )]
    BinaryMissing(PathBuf),
    #[error(
        "{0} is dynamically linked and cannot run in a FROM scratch image: build it with \
         docker/build-tenant-bot.sh"
    )]
    NotStatic(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the image build failed: {0}")]
    Build(String),
    #[error("container engine error: {0}")]
    Engine(String),
}

/// A built image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub tag: String,
    pub id: String,
    pub size_bytes: i64,
}

pub fn image_tag(version: &str) -> String {
    format!("{IMAGE_REPOSITORY}:{version}")
}

/// Where the static tenant-bot binary is: `$MADAR_TENANT_BOT_BINARY`, else
/// `<workspace>/target/static/...` when `workspace` is given and it exists there, else a
/// `tenant-bot` next to the running executable (how releases are installed).
pub fn locate_binary(workspace: Option<&Path>) -> PathBuf {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        return PathBuf::from(path);
    }
    if let Some(root) = workspace {
        let candidate = root.join(STATIC_BINARY_PATH);
        if candidate.exists() {
            return candidate;
        }
    }
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("tenant-bot")));
    match beside_exe {
        Some(path) if path.exists() => path,
        _ => workspace
            .map(|root| root.join(STATIC_BINARY_PATH))
            .unwrap_or_else(|| PathBuf::from(STATIC_BINARY_PATH)),
    }
}

/// The image for `version`, built from `binary` when the engine does not have it yet.
pub async fn ensure_image(
    docker: &Docker,
    binary: &Path,
    version: &str,
) -> Result<ImageInfo, ImageError> {
    match inspect(docker, &image_tag(version)).await? {
        Some(info) => Ok(info),
        None => build_image(docker, binary, version).await,
    }
}

/// Builds (or rebuilds) the image for `version` from `binary`.
pub async fn build_image(
    docker: &Docker,
    binary: &Path,
    version: &str,
) -> Result<ImageInfo, ImageError> {
    build_from_binary(docker, binary, &image_tag(version), version, &[]).await
}

/// Builds a `FROM scratch` image holding `binary` as its entrypoint `/<file name>`, running
/// as [`TENANT_USER`] with an empty `/data` it owns. `labels` are added to the image.
pub async fn build_from_binary(
    docker: &Docker,
    binary: &Path,
    tag: &str,
    version: &str,
    labels: &[(&str, &str)],
) -> Result<ImageInfo, ImageError> {
    let bytes = read_static_binary(binary)?;
    let file_name = binary
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("tenant-bot")
        .to_string();
    let context = build_context(&bytes, &file_name, version, labels)
        .map_err(|e| ImageError::Build(format!("cannot pack the build context: {e}")))?;
    let options = BuildImageOptionsBuilder::new()
        .t(tag)
        .rm(true)
        .forcerm(true)
        .build();
    let mut progress = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(step) = progress.next().await {
        let step = step.map_err(|e| ImageError::Build(e.to_string()))?;
        if let Some(detail) = step.error_detail.and_then(|d| d.message).or(step.error) {
            return Err(ImageError::Build(detail));
        }
    }
    inspect(docker, tag)
        .await?
        .ok_or_else(|| ImageError::Build(format!("the engine reported success but has no {tag}")))
}

/// The image's id and size, or `None` when the engine does not have it.
pub async fn inspect(docker: &Docker, tag: &str) -> Result<Option<ImageInfo>, ImageError> {
    match docker.inspect_image(tag).await {
        Ok(image) => Ok(Some(ImageInfo {
            tag: tag.to_string(),
            id: image.id.unwrap_or_default(),
            size_bytes: image.size.unwrap_or(0),
        })),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(ImageError::Engine(e.to_string())),
    }
}

fn read_static_binary(binary: &Path) -> Result<Vec<u8>, ImageError> {
    if !binary.exists() {
        return Err(ImageError::BinaryMissing(binary.to_path_buf()));
    }
    let bytes = std::fs::read(binary).map_err(|source| ImageError::Read {
        path: binary.to_path_buf(),
        source,
    })?;
    if has_interpreter(&bytes) {
        return Err(ImageError::NotStatic(binary.to_path_buf()));
    }
    Ok(bytes)
}

/// True when an ELF64 little-endian file asks for a dynamic loader (a PT_INTERP segment).
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return false;
    }
    let u64_at = |at: usize| -> usize {
        elf.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0) as usize
    };
    let u16_at = |at: usize| -> usize {
        elf.get(at..at + 2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_le_bytes)
            .unwrap_or(0) as usize
    };
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        elf.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            == Some(PT_INTERP)
    })
}

fn dockerfile(file_name: &str, version: &str, labels: &[(&str, &str)]) -> String {
    let mut text = format!(
        "FROM scratch\n\
         COPY {file_name} /{file_name}\n\
         COPY --chown={TENANT_USER} data /data\n\
         USER {TENANT_USER}\n\
         ENV MADAR_TENANT_DATABASE_URL=sqlite:///data/tenant.db?mode=rwc\n\
         STOPSIGNAL SIGTERM\n\
         LABEL madar.managed=true madar.version={version:?}\n\
         ENTRYPOINT [\"/{file_name}\"]\n"
    );
    for (key, value) in labels {
        text.push_str(&format!("LABEL {key}={value:?}\n"));
    }
    text
}

fn build_context(
    binary: &[u8],
    file_name: &str,
    version: &str,
    labels: &[(&str, &str)],
) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let now = shared::db::now_unix().max(0) as u64;
    let mut append = |path: &str, mode: u32, data: &[u8], directory: bool| {
        let mut header = tar::Header::new_gnu();
        header.set_mode(mode);
        header.set_mtime(now);
        header.set_size(data.len() as u64);
        if directory {
            header.set_entry_type(tar::EntryType::Directory);
        }
        builder.append_data(&mut header, path, data)
    };
    append(
        "Dockerfile",
        0o644,
        dockerfile(file_name, version, labels).as_bytes(),
        false,
    )?;
    append(file_name, 0o755, binary, false)?;
    append("data/", 0o700, &[], true)?;
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_test_binary_is_not_static_and_is_refused() {
        let exe = std::env::current_exe().expect("current exe");
        let bytes = std::fs::read(&exe).expect("read current exe");
        // Test binaries are built without crt-static: they have a loader.
        assert!(has_interpreter(&bytes));
        assert!(!has_interpreter(
            b"not an elf file at all, just some text padding........"
        ));
    }

    #[test]
    fn the_dockerfile_runs_the_binary_as_the_unprivileged_user() {
        let text = dockerfile("tenant-bot", "0.1.0", &[("madar.test-run", "abc")]);
        assert!(text.starts_with("FROM scratch\n"));
        assert!(text.contains("USER 10001:10001"));
        assert!(text.contains("ENTRYPOINT [\"/tenant-bot\"]"));
        assert!(text.contains("LABEL madar.test-run=\"abc\""));
    }
}
