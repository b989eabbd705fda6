//! Single-layer OCI images built from a static busybox, without any registry or builder.
//!
//! One layer holds `/bin/busybox`, a symlink per applet, any extra static binaries a
//! test asks for, and the few directories and files a container runtime expects. Two images share it: a workload image and a pause
//! image for sandboxes. Both go into one OCI image-layout archive (`oci-layout`,
//! `index.json`, `blobs/sha256/...`) that `ctr images import` reads; the index carries
//! each image's full name in `io.containerd.image.name`, which import uses as the tag.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cri::check_name;
use crate::error::{Error, Result};

/// Media type of an OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image configuration.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of an uncompressed OCI layer.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
/// Media type of an OCI image index.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Index annotation containerd's importer takes the full image name from.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// Standard OCI annotation for the tag.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Name of the workload image.
pub const BUSYBOX_IMAGE: &str = "localhost/nri-e2e/busybox:1";
/// Name of the sandbox (pause) image, pinned as containerd's sandbox image.
pub const PAUSE_IMAGE: &str = "localhost/nri-e2e/pause:1";

/// The pause process: a shell that waits forever and exits at once on SIGTERM or SIGINT.
/// (It is PID 1 of the pod's PID namespace, where signals without a handler are ignored;
/// the trap installs one. `wait` returns when a trapped signal arrives, unlike `sleep`.)
pub const PAUSE_SCRIPT: &str = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";

/// PATH inside both images.
const IMAGE_PATH: &str = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

/// What goes into one image besides the shared layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Full reference, e.g. `localhost/nri-e2e/busybox:1`.
    pub name: String,
    /// The image's `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// The image's `Cmd`.
    pub cmd: Vec<String>,
}

impl ImageSpec {
    /// The workload image: `sh` by default; CRI commands replace it.
    pub fn busybox() -> Self {
        Self {
            name: BUSYBOX_IMAGE.into(),
            entrypoint: vec![],
            cmd: vec!["/bin/sh".into()],
        }
    }

    /// The sandbox image running [`PAUSE_SCRIPT`].
    pub fn pause() -> Self {
        Self {
            name: PAUSE_IMAGE.into(),
            entrypoint: vec!["/bin/sh".into(), "-c".into(), PAUSE_SCRIPT.into()],
            cmd: vec![],
        }
    }
}

/// A descriptor of a blob: digest (`sha256:<hex>`) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

/// One image inside an [`ImageArchive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The image's full name.
    pub name: String,
    /// Its manifest.
    pub manifest: Blob,
    /// Its configuration.
    pub config: Blob,
}

/// An OCI image-layout archive ready for `ctr images import`.
#[derive(Debug, Clone)]
pub struct ImageArchive {
    /// The tar archive.
    pub bytes: Vec<u8>,
    /// The images it contains, in index order.
    pub images: Vec<BuiltImage>,
    /// The layer all of them share.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "the tests check the manifests against it; import needs only the bytes"
        )
    )]
    pub layer: Blob,
}

/// An executable added to the shared layer as `/bin/<name>` (e.g. a static test helper
/// the busybox applets cannot stand in for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraBinary {
    /// The file name under `/bin`; one plain path component.
    pub name: String,
    /// The program's bytes (static: the image has no libraries).
    pub bytes: Vec<u8>,
}

/// Builds an archive with one image per spec, all on one layer made from `busybox`
/// (the binary's bytes) with a `/bin/<applet>` symlink for each of `applets`, plus
/// `extra` binaries. An extra binary's name must be a plain path component
/// ([`Error::BadName`]); it replaces an applet of the same name.
pub fn build_archive(
    busybox: &[u8],
    applets: &[String],
    extra: &[ExtraBinary],
    specs: &[ImageSpec],
) -> Result<ImageArchive> {
    let layer_bytes = build_layer(busybox, applets, extra)?;
    let layer = blob_of(&layer_bytes);
    let arch = oci_architecture();

    // Blobs by digest: the layer is shared, and a BTreeMap keeps the archive reproducible.
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    blobs.insert(layer.digest.clone(), layer_bytes);
    let mut images = Vec::new();
    let mut index_entries = Vec::new();
    for spec in specs {
        let config_bytes = to_json(&image_config(spec, &layer.digest, arch))?;
        let config = blob_of(&config_bytes);
        blobs.insert(config.digest.clone(), config_bytes);
        let manifest_bytes = to_json(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": descriptor(CONFIG_MEDIA_TYPE, &config),
            "layers": [descriptor(LAYER_MEDIA_TYPE, &layer)],
        }))?;
        let manifest = blob_of(&manifest_bytes);
        blobs.insert(manifest.digest.clone(), manifest_bytes);

        let tag = spec
            .name
            .rsplit_once(':')
            .map(|(_, t)| t)
            .unwrap_or("latest");
        let mut entry = descriptor(MANIFEST_MEDIA_TYPE, &manifest);
        entry["platform"] = json!({ "architecture": arch, "os": "linux" });
        entry["annotations"] =
            json!({ ANNOTATION_IMAGE_NAME: spec.name, ANNOTATION_REF_NAME: tag });
        index_entries.push(entry);
        images.push(BuiltImage {
            name: spec.name.clone(),
            manifest,
            config,
        });
    }
    let index = to_json(&json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": index_entries,
    }))?;

    let mut archive = tar::Builder::new(Vec::new());
    append_file(
        &mut archive,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
        0o644,
    )?;
    append_file(&mut archive, "index.json", &index, 0o644)?;
    append_dir(&mut archive, "blobs/")?;
    append_dir(&mut archive, "blobs/sha256/")?;
    for (digest, bytes) in &blobs {
        let hex = digest.trim_start_matches("sha256:");
        append_file(&mut archive, &format!("blobs/sha256/{hex}"), bytes, 0o644)?;
    }
    let bytes = archive
        .into_inner()
        .map_err(tar_err("finishing the image archive"))?;
    Ok(ImageArchive {
        bytes,
        images,
        layer,
    })
}

/// The root file-system layer (an uncompressed tar).
fn build_layer(busybox: &[u8], applets: &[String], extra: &[ExtraBinary]) -> Result<Vec<u8>> {
    for binary in extra {
        check_name("extra binary name", &binary.name)?;
        if binary.name == "busybox" {
            return Err(Error::BadName {
                what: "extra binary name (busybox is the image's own)",
                value: binary.name.clone(),
            });
        }
    }
    let mut layer = tar::Builder::new(Vec::new());
    for dir in [
        "bin/", "dev/", "etc/", "proc/", "root/", "run/", "sys/", "tmp/", "var/",
    ] {
        append_dir(&mut layer, dir)?;
    }
    append_file(&mut layer, "bin/busybox", busybox, 0o755)?;
    for applet in applets {
        // `--list` prints bare names; anything else would escape /bin or clobber busybox.
        if applet.is_empty()
            || applet.contains('/')
            || applet == "busybox"
            || extra.iter().any(|b| b.name == *applet)
        {
            continue;
        }
        let mut header = tar_header(tar::EntryType::Symlink, 0o777, 0);
        layer
            .append_link(&mut header, format!("bin/{applet}"), "busybox")
            .map_err(tar_err(format!("adding applet link {applet}")))?;
    }
    for binary in extra {
        append_file(
            &mut layer,
            &format!("bin/{}", binary.name),
            &binary.bytes,
            0o755,
        )?;
    }
    append_file(
        &mut layer,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\n",
        0o644,
    )?;
    append_file(&mut layer, "etc/group", b"root:x:0:\n", 0o644)?;
    layer.into_inner().map_err(tar_err("finishing the layer"))
}

fn image_config(spec: &ImageSpec, layer_digest: &str, arch: &str) -> Value {
    let mut config = json!({ "Env": [IMAGE_PATH], "WorkingDir": "/" });
    if !spec.entrypoint.is_empty() {
        config["Entrypoint"] = json!(spec.entrypoint);
    }
    if !spec.cmd.is_empty() {
        config["Cmd"] = json!(spec.cmd);
    }
    json!({
        "architecture": arch,
        "os": "linux",
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
        "history": [{ "created_by": "containerd-harness: static busybox" }],
    })
}

fn descriptor(media_type: &str, blob: &Blob) -> Value {
    json!({ "mediaType": media_type, "digest": blob.digest, "size": blob.size })
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn blob_of(bytes: &[u8]) -> Blob {
    Blob {
        digest: sha256_digest(bytes),
        size: bytes.len() as u64,
    }
}

/// The OCI name of this machine's architecture (images must match the platform CRI runs).
fn oci_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn to_json(value: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| Error::Json {
        what: "the image metadata",
        source,
    })
}

/// A header with fixed owner and time, so the same inputs give the same digests.
fn tar_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn append_file(tar: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32) -> Result<()> {
    let mut header = tar_header(tar::EntryType::Regular, mode, data.len() as u64);
    tar.append_data(&mut header, path, data)
        .map_err(tar_err(format!("adding {path}")))
}

fn append_dir(tar: &mut tar::Builder<Vec<u8>>, path: &str) -> Result<()> {
    let mode = match path {
        "tmp/" => 0o1777,
        "root/" => 0o700,
        _ => 0o755,
    };
    let mut header = tar_header(tar::EntryType::Directory, mode, 0);
    tar.append_data(&mut header, path, std::io::empty())
        .map_err(tar_err(format!("adding {path}")))
}

fn tar_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    crate::error::io_err(context)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Read;

    use super::*;

    const FAKE_BUSYBOX: &[u8] = b"\x7fELF not really busybox";

    fn applets() -> Vec<String> {
        ["sh", "sleep", "cat", "busybox", "../evil", ""]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// path -> (entry type, mode, contents or link target)
    fn entries(tar_bytes: &[u8]) -> HashMap<String, (tar::EntryType, u32, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar_bytes);
        let mut out = HashMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let header = entry.header().clone();
            let mut data = Vec::new();
            if header.entry_type() == tar::EntryType::Symlink {
                data = header.link_name_bytes().unwrap().into_owned();
            } else {
                entry.read_to_end(&mut data).unwrap();
            }
            assert_eq!(header.uid().unwrap(), 0);
            out.insert(path, (header.entry_type(), header.mode().unwrap(), data));
        }
        out
    }

    fn json_of(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn archive_layout_and_digests_are_consistent() {
        let specs = [ImageSpec::pause(), ImageSpec::busybox()];
        let archive = build_archive(FAKE_BUSYBOX, &applets(), &[], &specs).unwrap();
        let files = entries(&archive.bytes);

        // Every blob is stored under its own digest.
        let blobs: Vec<_> = files
            .keys()
            .filter(|p| p.starts_with("blobs/sha256/") && p.len() > 13)
            .collect();
        assert_eq!(
            blobs.len(),
            5,
            "one layer, two configs, two manifests: {blobs:?}"
        );
        for path in blobs {
            let hex = path.trim_start_matches("blobs/sha256/");
            assert_eq!(
                sha256_digest(&files[path].2),
                format!("sha256:{hex}"),
                "{path}"
            );
        }
        let blob = |digest: &str| {
            &files[&format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))].2
        };

        assert_eq!(
            json_of(&files["oci-layout"].2)["imageLayoutVersion"],
            "1.0.0"
        );
        let index = json_of(&files["index.json"].2);
        assert_eq!(index["schemaVersion"], 2);
        let manifests = index["manifests"].as_array().unwrap();
        assert_eq!(manifests.len(), 2);
        for (entry, (spec, built)) in manifests.iter().zip(specs.iter().zip(&archive.images)) {
            assert_eq!(
                entry["annotations"][ANNOTATION_IMAGE_NAME],
                spec.name.as_str()
            );
            assert_eq!(entry["annotations"][ANNOTATION_REF_NAME], "1");
            assert_eq!(entry["platform"]["os"], "linux");
            assert_eq!(entry["mediaType"], MANIFEST_MEDIA_TYPE);
            assert_eq!(entry["digest"], built.manifest.digest.as_str());
            let manifest_bytes = blob(&built.manifest.digest);
            assert_eq!(entry["size"], manifest_bytes.len() as u64);

            let manifest = json_of(manifest_bytes);
            assert_eq!(manifest["config"]["digest"], built.config.digest.as_str());
            assert_eq!(
                manifest["config"]["size"],
                blob(&built.config.digest).len() as u64
            );
            assert_eq!(
                manifest["layers"][0]["digest"],
                archive.layer.digest.as_str()
            );
            assert_eq!(manifest["layers"][0]["mediaType"], LAYER_MEDIA_TYPE);
            assert_eq!(manifest["layers"][0]["size"], archive.layer.size);

            let config = json_of(blob(&built.config.digest));
            // Uncompressed layer: its diff id is its digest.
            assert_eq!(
                config["rootfs"]["diff_ids"][0],
                archive.layer.digest.as_str()
            );
            assert_eq!(config["architecture"], entry["platform"]["architecture"]);
        }
        let pause = json_of(blob(&archive.images[0].config.digest));
        assert_eq!(pause["config"]["Entrypoint"][2], PAUSE_SCRIPT);
    }

    #[test]
    fn layer_holds_busybox_and_safe_applet_links() {
        let archive =
            build_archive(FAKE_BUSYBOX, &applets(), &[], &[ImageSpec::busybox()]).unwrap();
        let files = entries(&archive.bytes);
        let layer = &files[&format!(
            "blobs/sha256/{}",
            archive.layer.digest.trim_start_matches("sha256:")
        )]
            .2;
        let layer = entries(layer);
        let (kind, mode, data) = &layer["bin/busybox"];
        assert_eq!(*kind, tar::EntryType::Regular);
        assert_eq!(*mode, 0o755);
        assert_eq!(data, FAKE_BUSYBOX);
        for applet in ["sh", "sleep", "cat"] {
            let (kind, _, target) = &layer[&format!("bin/{applet}")];
            assert_eq!(*kind, tar::EntryType::Symlink);
            assert_eq!(target, b"busybox");
        }
        assert!(
            !layer.keys().any(|p| p.contains("evil")),
            "{:?}",
            layer.keys()
        );
        assert_eq!(layer["tmp/"].1, 0o1777);
        assert!(layer.contains_key("proc/") && layer.contains_key("etc/passwd"));
    }

    #[test]
    fn archives_are_reproducible() {
        let a = build_archive(FAKE_BUSYBOX, &applets(), &[], &[ImageSpec::busybox()]).unwrap();
        let b = build_archive(FAKE_BUSYBOX, &applets(), &[], &[ImageSpec::busybox()]).unwrap();
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.images, b.images);
    }

    #[test]
    fn sha256_digest_matches_known_vector() {
        assert_eq!(
            sha256_digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn extra_binaries_are_executables_in_bin_and_replace_an_applet() {
        let extra = [ExtraBinary {
            name: "sleep".into(),
            bytes: b"\x7fELF helper".to_vec(),
        }];
        let archive =
            build_archive(FAKE_BUSYBOX, &applets(), &extra, &[ImageSpec::busybox()]).unwrap();
        let files = entries(&archive.bytes);
        let layer = files
            .iter()
            .find(|(p, _)| p.ends_with(archive.layer.digest.trim_start_matches("sha256:")))
            .map(|(_, (_, _, bytes))| entries(bytes))
            .expect("the layer blob");
        assert_eq!(
            layer.get("bin/sleep"),
            Some(&(tar::EntryType::Regular, 0o755, b"\x7fELF helper".to_vec()))
        );
    }

    #[test]
    fn an_extra_binary_must_be_a_plain_name_other_than_busybox() {
        for name in ["../sh", "a/b", "", "busybox"] {
            let extra = [ExtraBinary {
                name: name.into(),
                bytes: vec![1],
            }];
            let err = build_archive(FAKE_BUSYBOX, &applets(), &extra, &[ImageSpec::busybox()])
                .expect_err(name);
            assert!(matches!(err, Error::BadName { .. }), "{name}: {err:?}");
        }
    }
}
