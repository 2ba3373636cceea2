"""Which release runs in a slot, by the best evidence there is, and whether two slots run the same one. Pure.

Evidence, strongest first:
  1. the version the slot's own /health reports (what the process says it is);
  2. the container image: a single container's `DOCKER|<image>:<tag>`, or a sidecar app's main site container.
     Two different images are two releases; the same image proves the same release only when it is pinned by
     digest (`@sha256:`), since a tag such as `latest` may be reused for every release;
  3. the slot's latest deployment (code apps: each deployment has its own id, a commit for git deployments).
A Linux code app's `PYTHON|3.11` or a sidecar app's `SITECONTAINERS` says nothing about the release. When no
evidence decides, the answer is "unknown", and unknown is never "the same".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Release:
    version: str | None = None
    image: str | None = None
    deployment: str | None = None

    @property
    def known(self) -> bool:
        return bool(self.version or self.image or self.deployment)

    def label(self) -> str:
        """`v1.2.2`, `augeo-backend:v1.2.2`, `deployment 9f2c1a0`, or `unknown release`, for the timeline."""
        if self.version:
            return self.version
        if self.image:
            return self.image.rsplit("/", 1)[-1]
        if self.deployment:
            return f"deployment {self.deployment[:12]}"
        return "unknown release"

    def to_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> Release:
        return cls(**{key: (data or {}).get(key) for key in ("version", "image", "deployment")})


def same_release(a: Release, b: Release) -> bool | None:
    """True: the same release; False: different releases; None: the evidence does not tell."""
    if a.version and b.version:
        return a.version == b.version
    if a.image and b.image:
        if a.image != b.image:
            return False
        if "@sha256:" in a.image:
            return True
    if a.deployment and b.deployment:
        return a.deployment == b.deployment
    return None
