#!/usr/bin/env python3
"""Write a `docker save`-format tarball holding one static binary as /pause (the pod sandbox image).

Usage: pause-image.py PAUSE_BINARY IMAGE_NAME OUT.tar
"""
import hashlib
import io
import json
import sys
import tarfile


def add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def main() -> None:
    binary, image, out = sys.argv[1:4]
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w", format=tarfile.USTAR_FORMAT) as layer:
        add(layer, "pause", open(binary, "rb").read(), 0o755)
    layer_bytes = layer_buf.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "scripts/local-k8s.d/pause-image.py (build/pause/linux/pause.c)"}],
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [image],
                            "Layers": ["layer/layer.tar"]}]).encode()
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as tar:
        add(tar, "layer/layer.tar", layer_bytes)
        add(tar, config_name, config)
        add(tar, "manifest.json", manifest)


if __name__ == "__main__":
    main()
